/*
 * metrics.c - counters and histograms shared by hbkd's workers (atomics,
 * no locks), rendered in the Prometheus text format, version 0.0.4.
 */
#include <string.h>

#include "hbk/upstream.h"
#include "server.h"

const char *const route_names[ROUTE_COUNT] = {
    [ROUTE_OFFERS] = "/v1/offers",
    [ROUTE_BOOKINGS] = "/v1/bookings",
    [ROUTE_BOOKING] = "/v1/bookings/{id}",
    [ROUTE_CANCEL] = "/v1/bookings/{id}/cancel",
    [ROUTE_EVENTS] = "/v1/bookings/{id}/events",
    [ROUTE_HEALTHZ] = "/healthz",
    [ROUTE_READYZ] = "/readyz",
    [ROUTE_METRICS] = "/metrics",
    [ROUTE_WEBHOOK_PAYMENTS] = "/v1/webhooks/payments",
    [ROUTE_NONE] = "other",
};

static const char *const method_names[METRIC_METHODS] = {"GET", "POST",	  "PATCH",
							 "PUT", "DELETE", "other"};

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t bucket_us[METRIC_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000,
};

static const char *const outcome_names[OUTCOME_COUNT] = {"confirmed", "failed", "rejected"};

void metrics_observe(struct histogram *h, int64_t duration_us)
{
	int i = 0;
	if (duration_us < 0)
		duration_us = 0;
	while (i < METRIC_BUCKETS - 1 && duration_us > bucket_us[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)duration_us,
				  memory_order_relaxed);
}

static int method_index(const char *method)
{
	for (int i = 0; i < METRIC_METHODS - 1; i++)
		if (strcmp(method, method_names[i]) == 0)
			return i;
	return METRIC_METHODS - 1;
}

void metrics_request(struct metrics *m, enum route route, const char *method, int status,
		     int64_t duration_us)
{
	if (status < METRIC_STATUS_MIN || status > METRIC_STATUS_MAX)
		status = 500;
	atomic_fetch_add_explicit(
	    &m->requests[route][method_index(method)][status - METRIC_STATUS_MIN], 1,
	    memory_order_relaxed);
	metrics_observe(&m->duration[route], duration_us);
}

static void render_histogram(struct hbk_buf *out, const char *name, const char *label,
			     const char *value, struct histogram *h)
{
	unsigned long long cumulative = 0;
	for (int i = 0; i < METRIC_BUCKETS; i++) {
		cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		if (i < METRIC_BUCKETS - 1)
			hbk_buf_printf(out, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label,
				       value, (double)bucket_us[i] / 1e6, cumulative);
		else
			hbk_buf_printf(out, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", name, label,
				       value, cumulative);
	}
	hbk_buf_printf(out, "%s_sum{%s=\"%s\"} %.6f\n", name, label, value,
		       (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
	hbk_buf_printf(out, "%s_count{%s=\"%s\"} %llu\n", name, label, value,
		       atomic_load_explicit(&h->count, memory_order_relaxed));
}

void metrics_render(struct metrics *m, struct hbk_buf *out)
{
	hbk_buf_puts(out, "# HELP hbk_http_requests_total HTTP requests answered.\n"
			  "# TYPE hbk_http_requests_total counter\n");
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int k = 0; k < METRIC_METHODS; k++)
			for (int s = 0; s <= METRIC_STATUS_MAX - METRIC_STATUS_MIN; s++) {
				unsigned long long n = atomic_load_explicit(&m->requests[r][k][s],
									    memory_order_relaxed);
				if (n)
					hbk_buf_printf(out,
						       "hbk_http_requests_total{route=\"%s\","
						       "method=\"%s\",status=\"%d\"} %llu\n",
						       route_names[r], method_names[k],
						       s + METRIC_STATUS_MIN, n);
			}
	hbk_buf_puts(out, "# HELP hbk_http_request_duration_seconds Time to answer a request.\n"
			  "# TYPE hbk_http_request_duration_seconds histogram\n");
	for (int r = 0; r < ROUTE_COUNT; r++)
		if (atomic_load_explicit(&m->duration[r].count, memory_order_relaxed))
			render_histogram(out, "hbk_http_request_duration_seconds", "route",
					 route_names[r], &m->duration[r]);
	hbk_buf_puts(out, "# HELP hbk_bookings_total Booking requests by outcome.\n"
			  "# TYPE hbk_bookings_total counter\n");
	for (int o = 0; o < OUTCOME_COUNT; o++)
		hbk_buf_printf(out, "hbk_bookings_total{outcome=\"%s\"} %llu\n", outcome_names[o],
			       atomic_load_explicit(&m->bookings[o], memory_order_relaxed));
	hbk_buf_puts(out, "# HELP hbk_saga_step_duration_seconds Time of each external saga step.\n"
			  "# TYPE hbk_saga_step_duration_seconds histogram\n");
	for (int s = 0; s <= HBK_STEP_CANCEL_ABANDON; s++)
		if (atomic_load_explicit(&m->saga_steps[s].count, memory_order_relaxed))
			render_histogram(out, "hbk_saga_step_duration_seconds", "step",
					 hbk_saga_step_name((enum hbk_saga_step)s),
					 &m->saga_steps[s]);
	hbk_buf_puts(out, "# HELP hbk_store_duration_seconds Time of each store statement.\n"
			  "# TYPE hbk_store_duration_seconds histogram\n");
	render_histogram(out, "hbk_store_duration_seconds", "store", "sqlite", &m->store);
	hbk_buf_printf(out,
		       "# HELP hbk_store_commits_total Groups of writes committed at once.\n"
		       "# TYPE hbk_store_commits_total counter\n"
		       "hbk_store_commits_total %llu\n"
		       "# HELP hbk_store_transactions_total Transactions those commits held.\n"
		       "# TYPE hbk_store_transactions_total counter\n"
		       "hbk_store_transactions_total %llu\n",
		       atomic_load_explicit(&m->store_batches, memory_order_relaxed),
		       atomic_load_explicit(&m->store_transactions, memory_order_relaxed));
	hbk_buf_printf(out,
		       "# HELP hbk_http_connections Open client connections.\n"
		       "# TYPE hbk_http_connections gauge\n"
		       "hbk_http_connections %d\n"
		       "# HELP hbk_http_requests_in_flight Requests being answered.\n"
		       "# TYPE hbk_http_requests_in_flight gauge\n"
		       "hbk_http_requests_in_flight %d\n",
		       atomic_load(&m->connections), atomic_load(&m->in_flight));
	if (m->publisher) {
		struct hbk_publisher_stats stats;
		hbk_publisher_stats(m->publisher, &stats);
		hbk_buf_printf(out,
			       "# HELP hbk_outbox_pending Events committed, not yet on Kafka.\n"
			       "# TYPE hbk_outbox_pending gauge\n"
			       "hbk_outbox_pending %lld\n"
			       "# HELP hbk_outbox_published_total Events Kafka acknowledged.\n"
			       "# TYPE hbk_outbox_published_total counter\n"
			       "hbk_outbox_published_total %lld\n"
			       "# HELP hbk_outbox_failures_total Batches Kafka did not take.\n"
			       "# TYPE hbk_outbox_failures_total counter\n"
			       "hbk_outbox_failures_total %lld\n",
			       (long long)stats.pending, (long long)stats.published,
			       (long long)stats.failures);
	}
	if (m->applier) {
		struct hbk_applier_stats stats;
		hbk_applier_stats(m->applier, &stats);
		hbk_buf_printf(out,
			       "# HELP hbk_applier_events_total Events from the events topic.\n"
			       "# TYPE hbk_applier_events_total counter\n"
			       "hbk_applier_events_total{outcome=\"applied\"} %lld\n"
			       "hbk_applier_events_total{outcome=\"skipped\"} %lld\n"
			       "hbk_applier_events_total{outcome=\"dead_lettered\"} %lld\n"
			       "# HELP hbk_applier_retries_total Applies or dead letters retried.\n"
			       "# TYPE hbk_applier_retries_total counter\n"
			       "hbk_applier_retries_total %lld\n"
			       "# HELP hbk_applier_lag Messages on the events topic not read yet.\n"
			       "# TYPE hbk_applier_lag gauge\n"
			       "hbk_applier_lag %lld\n",
			       (long long)stats.applied, (long long)stats.skipped,
			       (long long)stats.dead_lettered, (long long)stats.retries,
			       (long long)stats.lag);
		hbk_buf_printf(
		    out,
		    "# HELP hbk_commands_total Commands this instance decided, by outcome.\n"
		    "# TYPE hbk_commands_total counter\n"
		    "hbk_commands_total{outcome=\"accepted\"} %llu\n"
		    "hbk_commands_total{outcome=\"rejected\"} %llu\n"
		    "hbk_commands_total{outcome=\"duplicate\"} %llu\n"
		    "hbk_commands_total{outcome=\"dead_lettered\"} %llu\n"
		    "# HELP hbk_sagas_adopted_total Sagas in flight taken over from another "
		    "instance.\n"
		    "# TYPE hbk_sagas_adopted_total counter\n"
		    "hbk_sagas_adopted_total %llu\n"
		    "# HELP hbk_partitions_owned Partitions of the commands topic decided here.\n"
		    "# TYPE hbk_partitions_owned gauge\n"
		    "hbk_partitions_owned %d\n",
		    (unsigned long long)m->commands[COMMAND_ACCEPTED],
		    (unsigned long long)m->commands[COMMAND_REJECTED],
		    (unsigned long long)m->commands[COMMAND_DUPLICATE],
		    (unsigned long long)m->commands[COMMAND_DEAD_LETTERED],
		    (unsigned long long)m->sagas_adopted, (int)m->partitions_owned);
	}
	hbk_upstream_metrics(out);
}
