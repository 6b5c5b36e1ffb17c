/*
 * money.c - amounts as int64 minor units with an ISO 4217 code; decimal
 * strings in and out, never floats.
 */
#include <string.h>

#include "hbk/core.h"

/* The currencies hbk prices in, with their ISO 4217 minor unit exponent;
 * sorted by code, for the search by halves. */
struct currency {
	const char code[4];
	int exponent;
};

static const struct currency currencies[] = {
    {"AED", 2}, {"AUD", 2}, {"BHD", 3}, {"BRL", 2}, {"CAD", 2}, {"CHF", 2}, {"CNY", 2},
    {"CZK", 2}, {"DKK", 2}, {"EUR", 2}, {"GBP", 2}, {"HKD", 2}, {"HUF", 2}, {"INR", 2},
    {"JPY", 0}, {"KRW", 0}, {"KWD", 3}, {"MXN", 2}, {"NOK", 2}, {"NZD", 2}, {"PLN", 2},
    {"SEK", 2}, {"SGD", 2}, {"THB", 2}, {"TRY", 2}, {"USD", 2}, {"ZAR", 2},
};

/* strcmp(s, code) in sign, for a code of three letters: written out, as
 * it runs a few times for every amount written. */
static int code_cmp(const char *s, const char code[4])
{
	for (int i = 0; i < 4; i++)
		if (s[i] != code[i] || !s[i])
			return (unsigned char)s[i] - (unsigned char)code[i];
	return 0;
}

int hbk_currency_exponent(const char *currency)
{
	/* By halves: the table is sorted. */
	int lo = 0, hi = (int)(sizeof(currencies) / sizeof(currencies[0]));
	while (lo < hi) {
		int mid = (lo + hi) / 2, by = code_cmp(currency, currencies[mid].code);
		if (by == 0)
			return currencies[mid].exponent;
		if (by < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

struct hbk_money hbk_money_make(int64_t minor, const char *currency)
{
	/* As hbk_copy() would, without its strlen: prices are made by the
	 * thousand in a search. */
	struct hbk_money money = {.minor = minor};
	size_t len = strnlen(currency, sizeof(money.currency) - 1);
	memcpy(money.currency, currency, len);
	return money;
}

hbk_result hbk_money_parse(const char *amount, const char *currency, struct hbk_money *out,
			   struct hbk_error *err)
{
	int exponent = hbk_currency_exponent(currency);
	if (exponent < 0)
		return hbk_fail(err, HBK_EINVAL, "invalid_currency", "unknown currency '%s'",
				currency);
	const char *p = amount;
	bool negative = false;
	if (*p == '-') {
		negative = true;
		p++;
	}
	int64_t whole = 0, frac = 0;
	int int_digits = 0, frac_digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, int_digits++) {
		if (whole > (INT64_MAX / 10000) / 10)
			goto bad;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++, frac_digits++)
			frac = frac * 10 + (*p - '0');
		if (frac_digits == 0 || frac_digits > exponent)
			goto bad;
	}
	if (*p || int_digits == 0)
		goto bad;
	for (int i = frac_digits; i < exponent; i++)
		frac *= 10;
	int64_t scale = 1;
	for (int i = 0; i < exponent; i++)
		scale *= 10;
	*out = hbk_money_make((whole * scale + frac) * (negative ? -1 : 1), currency);
	return HBK_OK;
bad:
	return hbk_fail(err, HBK_EINVAL, "invalid_amount",
			"invalid amount '%s' (expected a decimal with at most %d decimals)", amount,
			exponent);
}

size_t hbk_decimal_format(int64_t value, int places, char out[HBK_DECIMAL_STR])
{
	HBK_ASSERT(places >= 0 && places <= 18);
	uint64_t v = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
	/* Digits from the right, by hand. */
	char digits[HBK_DECIMAL_STR];
	int i = HBK_DECIMAL_STR;
	for (int place = 0; v || place <= places; place++) {
		if (place == places && places > 0)
			digits[--i] = '.';
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	}
	if (value < 0)
		digits[--i] = '-';
	size_t len = (size_t)(HBK_DECIMAL_STR - i);
	memcpy(out, digits + i, len);
	return len;
}

void hbk_money_format(const struct hbk_money *money, char out[HBK_MONEY_STR])
{
	_Static_assert(HBK_MONEY_STR > HBK_DECIMAL_STR, "an amount and its NUL fit");
	int exponent = hbk_currency_exponent(money->currency);
	/* Every offer and booking shows money. */
	out[hbk_decimal_format(money->minor, exponent < 0 ? 2 : exponent, out)] = '\0';
}

void hbk_money_add(struct hbk_money *a, const struct hbk_money *b)
{
	HBK_ASSERT(strcmp(a->currency, b->currency) == 0);
	HBK_ASSERT(!__builtin_add_overflow(a->minor, b->minor, &a->minor));
}
