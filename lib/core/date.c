/*
 * date.c - calendar dates as days since 1970-01-01 and instants as
 * milliseconds since the epoch, all in UTC.
 *
 * The civil-from-days conversions are Howard Hinnant's well-known
 * algorithms, written out for int32 days.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hbk/core.h"

hbk_date hbk_date_from_ymd(int year, int month, int day)
{
	year -= month <= 2;
	int era = (year >= 0 ? year : year - 399) / 400;
	int yoe = year - era * 400;
	int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void hbk_date_to_ymd(hbk_date date, int *year, int *month, int *day)
{
	int z = date + 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	int doe = z - era * 146097;
	int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (5 * doy + 2) / 153;
	int d = doy - (153 * mp + 2) / 5 + 1;
	int m = mp < 10 ? mp + 3 : mp - 9;
	*year = yoe + era * 400 + (m <= 2);
	*month = m;
	*day = d;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

bool hbk_date_parse(const char *s, hbk_date *out)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2);
	if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month))
		return false;
	*out = hbk_date_from_ymd(year, month, day);
	return true;
}

void hbk_date_format(hbk_date date, char out[HBK_DATE_STR])
{
	int y, m, d;
	hbk_date_to_ymd(date, &y, &m, &d);
	if (y < 0 || y > 9999) {
		hbk_copy(out, HBK_DATE_STR, "0000-00-00");
		return;
	}
	/* By hand: dates are written into every offer and booking answered. */
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = '\0';
}

int hbk_date_weekday(hbk_date date)
{
	/* 1970-01-01 was a Thursday (3 when Monday is 0). */
	int w = (date + 3) % 7;
	return w < 0 ? w + 7 : w;
}

int64_t hbk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

hbk_date hbk_date_today(void)
{
	const char *fixed = getenv("HBK_TODAY");
	hbk_date date;
	if (fixed && hbk_date_parse(fixed, &date))
		return date;
	int64_t ms = hbk_now_ms();
	return (hbk_date)(ms / 86400000);
}

int64_t hbk_date_ms(hbk_date date)
{
	return (int64_t)date * 86400000;
}

void hbk_time_format(int64_t ms, char out[HBK_TIME_STR])
{
	int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
	int64_t rest = ms - days * 86400000;
	int h = (int)(rest / 3600000), mi = (int)(rest / 60000 % 60), s = (int)(rest / 1000 % 60);
	int milli = (int)(rest % 1000);
	_Static_assert(HBK_TIME_STR >= 25, "room for YYYY-MM-DDTHH:MM:SS.mmmZ");
	hbk_date_format((hbk_date)days, out);
	const int fields[] = {h / 10, h % 10, -1, mi / 10, mi % 10, -1, s / 10, s % 10};
	out[10] = 'T';
	for (int i = 0; i < 8; i++)
		out[11 + i] = fields[i] < 0 ? ':' : (char)('0' + fields[i]);
	out[19] = '.';
	out[20] = (char)('0' + milli / 100);
	out[21] = (char)('0' + milli / 10 % 10);
	out[22] = (char)('0' + milli % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

bool hbk_time_parse(const char *s, int64_t *ms)
{
	char date[HBK_DATE_STR];
	hbk_date d;
	size_t len = s ? strlen(s) : 0;
	if (len < 20 || s[10] != 'T' || s[len - 1] != 'Z')
		return false;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!hbk_date_parse(date, &d))
		return false;
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2), milli = 0;
	if (s[13] != ':' || s[16] != ':' || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
	    sec > 60)
		return false;
	if (len == 24) {
		if (s[19] != '.' || (milli = digits(s + 20, 3)) < 0)
			return false;
	} else if (len != 20) {
		return false;
	}
	*ms = hbk_date_ms(d) + (int64_t)h * 3600000 + mi * 60000 + sec * 1000 + milli;
	return true;
}
