/*
 * maildir.c - delivery into a Maildir (https://cr.yp.to/proto/maildir.html).
 *
 * A message is written whole to tmp/<unique>, its data made durable, then
 * renamed to new/<unique>, and new/ is synced so that the rename is
 * durable too before the caller records the message as sent. A reader of
 * new/ therefore never sees a partial message, and a crash leaves at most
 * a stray file in tmp/. The unique name is
 * "<seconds>.M<microseconds>P<pid>Q<counter>.<hostname>", where the
 * counter is per process, so two deliveries in one microsecond by one
 * process still get different names.
 *
 * A batch shares its flushes. Every message is written to tmp/ without a
 * flush of its own; one syncfs(2) then makes the data of all of them
 * durable, each is renamed, and new/ is synced once. Per message that
 * saves a synchronous write of the file's data and inode and a sync of
 * new/, which were most of hbkd's delivery cost under load. syncfs also
 * writes back whatever else on the filesystem is dirty (the store, when
 * it shares the disk), which is written back anyway within seconds. A
 * batch of one, an operator's resend or the embedded tool's notice, has
 * nothing to share and fsyncs its file instead, touching nothing else.
 *
 * The files are reached through descriptors of tmp/ and new/ opened once
 * per batch, and the host name is read once per batch, so a message costs
 * its create, write, close and rename only.
 */
#define _GNU_SOURCE /* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "hbk/core.h"

#include "maildir.h"

#define MAILDIR_MODE 0700
#define MESSAGE_MODE 0600
/* Attempts at a unique name before giving up: a clash needs a clock going
 * backwards or a reused pid, so one retry is already unusual. */
#define UNIQUE_ATTEMPTS_MAX 8
#define HOSTNAME_MAX_BYTES  256
/* The escaped host name in a unique name: at most 64 characters on Linux,
 * up to 4 bytes each when escaped; a longer one is cut. */
#define HOST_ESCAPED_MAX_BYTES 200

static unsigned long delivery_counter;

/* Creates path with MAILDIR_MODE unless it is already a directory. */
static hbk_result make_dir(const char *path, struct hbk_error *err)
{
	struct stat st;

	if (mkdir(path, MAILDIR_MODE) == 0)
		return HBK_OK;
	if (errno == EEXIST && stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return HBK_OK;
		return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed",
				"cannot create %s: not a directory", path);
	}
	return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "cannot create %s: %s", path,
			strerror(errno));
}

/* Creates every missing directory along path (borrowed), like mkdir -p. */
static hbk_result make_dirs(const char *path, struct hbk_error *err)
{
	struct hbk_buf prefix;
	hbk_result rc = HBK_OK;
	size_t len = strlen(path);

	hbk_buf_init(&prefix, PATH_MAX);
	for (size_t i = 1; i <= len && rc == HBK_OK; i++) {
		if (i < len && path[i] != '/')
			continue;
		hbk_buf_reset(&prefix);
		if (!hbk_buf_append(&prefix, path, i)) {
			rc =
			    hbk_fail(err, HBK_EINVAL, "maildir_failed", "maildir path is too long");
			break;
		}
		if (path[i - 1] != '/')
			rc = make_dir(prefix.data, err);
	}
	hbk_buf_free(&prefix);
	return rc;
}

/*
 * Creates the Maildir and its tmp/, new/ and cur/ (mode 0700, parents
 * included). Safe to call again; maildir is borrowed.
 */
hbk_result hbk_maildir_prepare(const char *maildir, struct hbk_error *err)
{
	static const char *const subdirs[] = {"tmp", "new", "cur"};
	struct hbk_buf path;
	hbk_result rc;

	HBK_ASSERT(maildir != NULL && *maildir);
	rc = make_dirs(maildir, err);
	hbk_buf_init(&path, PATH_MAX);
	for (size_t i = 0; i < 3 && rc == HBK_OK; i++) {
		hbk_buf_reset(&path);
		if (!hbk_buf_printf(&path, "%s/%s", maildir, subdirs[i]))
			rc =
			    hbk_fail(err, HBK_EINVAL, "maildir_failed", "maildir path is too long");
		else
			rc = make_dir(path.data, err);
	}
	hbk_buf_free(&path);
	return rc;
}

/* What the messages of one batch share: tmp/ and new/, opened once. */
struct batch {
	const char *maildir; /* borrowed */
	int tmp_fd;
	int new_fd;
	long pid;
	char host[HOST_ESCAPED_MAX_BYTES];
};

/* The host name with "/" and ":" written as \057 and \072, as Maildir
 * asks, into out (HOST_ESCAPED_MAX_BYTES), cut short rather than overrun. */
static void escaped_hostname(char *out)
{
	char host[HOSTNAME_MAX_BYTES];
	size_t len = 0;

	if (gethostname(host, sizeof(host)) != 0 || !host[0])
		hbk_copy(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = host; *p && len + sizeof("\\057") <= HOST_ESCAPED_MAX_BYTES; p++) {
		if (*p == '/' || *p == ':') {
			memcpy(out + len, *p == '/' ? "\\057" : "\\072", 4);
			len += 4;
		} else {
			out[len++] = *p;
		}
	}
	out[len] = '\0';
	HBK_ASSERT(len < HOST_ESCAPED_MAX_BYTES);
}

/* Opens maildir/<sub> as a directory; -1 with err filled on failure. */
static int open_subdir(const char *maildir, const char *sub, struct hbk_error *err)
{
	struct hbk_buf path;
	int fd = -1;

	hbk_buf_init(&path, PATH_MAX);
	if (!hbk_buf_printf(&path, "%s/%s", maildir, sub))
		hbk_fail(err, HBK_EINVAL, "maildir_failed", "maildir path is too long");
	else if ((fd = open(path.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "cannot open %s: %s", path.data,
			 strerror(errno));
	hbk_buf_free(&path);
	return fd;
}

static hbk_result batch_open(struct batch *batch, const char *maildir, struct hbk_error *err)
{
	batch->maildir = maildir;
	batch->pid = (long)getpid();
	escaped_hostname(batch->host);
	batch->new_fd = -1;
	batch->tmp_fd = open_subdir(maildir, "tmp", err);
	if (batch->tmp_fd < 0)
		return err->result;
	batch->new_fd = open_subdir(maildir, "new", err);
	if (batch->new_fd < 0) {
		close(batch->tmp_fd);
		batch->tmp_fd = -1;
		return err->result;
	}
	return HBK_OK;
}

static void batch_close(struct batch *batch)
{
	if (batch->tmp_fd >= 0)
		close(batch->tmp_fd);
	if (batch->new_fd >= 0)
		close(batch->new_fd);
	batch->tmp_fd = batch->new_fd = -1;
}

/* A fresh unique name into name (HBK_MAILDIR_NAME_BYTES); false if it
 * does not fit. */
static bool unique_name(const struct batch *batch, char *name)
{
	struct timeval now;
	unsigned long counter = __atomic_add_fetch(&delivery_counter, 1, __ATOMIC_RELAXED);

	gettimeofday(&now, NULL);
	int n =
	    snprintf(name, HBK_MAILDIR_NAME_BYTES, "%lld.M%ldP%ldQ%lu.%s", (long long)now.tv_sec,
		     (long)now.tv_usec, batch->pid, counter, batch->host);
	return n > 0 && n < HBK_MAILDIR_NAME_BYTES;
}

static hbk_result write_all(int fd, const struct batch *batch, const char *name, const char *data,
			    size_t len, struct hbk_error *err)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed",
					"cannot write %s/tmp/%s: %s", batch->maildir, name,
					n < 0 ? strerror(errno) : "no progress");
		data += n;
		len -= (size_t)n;
	}
	return HBK_OK;
}

/* Creates tmp/<unique> exclusively into *fd and names it in name. */
static hbk_result create_unique(const struct batch *batch, char *name, int *fd,
				struct hbk_error *err)
{
	for (int attempt = 0; attempt < UNIQUE_ATTEMPTS_MAX; attempt++) {
		if (!unique_name(batch, name))
			return hbk_fail(err, HBK_EINVAL, "maildir_failed",
					"maildir file name is too long");
		*fd = openat(batch->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			     MESSAGE_MODE);
		if (*fd >= 0)
			return HBK_OK;
		if (errno != EEXIST)
			return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed",
					"cannot create %s/tmp/%s: %s", batch->maildir, name,
					strerror(errno));
	}
	return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "no unique file name in %s/tmp",
			batch->maildir);
}

/*
 * Writes message whole to tmp/ (message->rc HBK_OK when it is there);
 * with sync, its data and inode are flushed too. A failure leaves no file.
 */
static void write_message(const struct batch *batch, struct hbk_maildir_message *message, bool sync)
{
	struct hbk_error *err = &message->err;
	int fd = -1;

	message->rc = create_unique(batch, message->name, &fd, err);
	if (message->rc != HBK_OK)
		return;
	message->rc = write_all(fd, batch, message->name, message->data, message->len, err);
	if (message->rc == HBK_OK && sync && fsync(fd) != 0)
		message->rc =
		    hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "cannot sync %s/tmp/%s: %s",
			     batch->maildir, message->name, strerror(errno));
	if (close(fd) != 0 && message->rc == HBK_OK)
		message->rc =
		    hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "cannot close %s/tmp/%s: %s",
			     batch->maildir, message->name, strerror(errno));
	if (message->rc != HBK_OK)
		unlinkat(batch->tmp_fd, message->name, 0);
}

/*
 * Makes the data of every message written to tmp/ durable at once. On
 * failure none of them can be trusted: each fails and its file goes.
 * syncfs reports (since Linux 5.8) the write-back errors of the
 * filesystem since tmp_fd was opened, this batch's files among others.
 */
static void flush_written(const struct batch *batch, struct hbk_maildir_message *messages,
			  int count)
{
	if (syncfs(batch->tmp_fd) == 0)
		return;
	int saved_errno = errno;
	for (int i = 0; i < count; i++) {
		if (messages[i].rc != HBK_OK)
			continue;
		messages[i].rc =
		    hbk_fail(&messages[i].err, HBK_EUNAVAILABLE, "maildir_failed",
			     "cannot sync %s/tmp: %s", batch->maildir, strerror(saved_errno));
		unlinkat(batch->tmp_fd, messages[i].name, 0);
	}
}

/* Moves a written message into new/; on failure its file goes. */
static void move_to_new(const struct batch *batch, struct hbk_maildir_message *message)
{
	if (renameat(batch->tmp_fd, message->name, batch->new_fd, message->name) == 0)
		return;
	message->rc = hbk_fail(&message->err, HBK_EUNAVAILABLE, "maildir_failed",
			       "cannot move %s/tmp/%s to new/: %s", batch->maildir, message->name,
			       strerror(errno));
	unlinkat(batch->tmp_fd, message->name, 0);
}

int hbk_maildir_deliver_batch(const char *maildir, struct hbk_maildir_message *messages, int count)
{
	struct batch batch;
	struct hbk_error open_err = {0};
	int written = 0, delivered = 0;

	HBK_ASSERT(maildir != NULL && messages != NULL);
	HBK_ASSERT(count >= 1 && count <= HBK_MAILDIR_BATCH_MAX);
	if (batch_open(&batch, maildir, &open_err) != HBK_OK) {
		for (int i = 0; i < count; i++) {
			messages[i].rc = open_err.result;
			messages[i].err = open_err;
		}
		return 0;
	}
	for (int i = 0; i < count; i++) {
		HBK_ASSERT(messages[i].data != NULL);
		hbk_error_clear(&messages[i].err);
		write_message(&batch, &messages[i], count == 1);
		written += messages[i].rc == HBK_OK;
	}
	if (written > 0 && count > 1)
		flush_written(&batch, messages, count);
	for (int i = 0; i < count; i++) {
		if (messages[i].rc != HBK_OK)
			continue;
		move_to_new(&batch, &messages[i]);
		delivered += messages[i].rc == HBK_OK;
	}
	/* The messages are delivered either way; this only hurries the disk. */
	if (delivered > 0)
		(void)fsync(batch.new_fd);
	batch_close(&batch);
	HBK_ASSERT(delivered <= written);
	return delivered;
}

/*
 * Delivers message (len octets, borrowed) into maildir/new/. The Maildir
 * must have been prepared. On failure nothing is left in tmp/.
 */
hbk_result hbk_maildir_deliver(const char *maildir, const char *message, size_t len,
			       struct hbk_error *err)
{
	struct hbk_maildir_message one = {.data = message, .len = len};

	HBK_ASSERT(maildir != NULL && message != NULL);
	if (hbk_maildir_deliver_batch(maildir, &one, 1) == 1)
		return HBK_OK;
	if (err)
		*err = one.err;
	return one.rc;
}
