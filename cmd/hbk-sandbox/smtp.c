/*
 * smtp.c - the SMTP sink of hbk-sandbox.
 */
#include <unistd.h>

#include "sandbox.h"

hbk_result sandbox_smtp_start(struct sandbox *sb, int fd, struct hbk_error *err)
{
	(void)sb;
	(void)fd;
	return hbk_fail(err, HBK_EUNAVAILABLE, "smtp", "the SMTP sink is not in this build");
}
