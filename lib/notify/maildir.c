/*
 * maildir.c - delivery into a Maildir (https://cr.yp.to/proto/maildir.html).
 *
 * A message is written whole to tmp/<unique>, flushed to disk with fsync,
 * then renamed to new/<unique>. A reader of new/ therefore never sees a
 * partial message, and a crash leaves at most a stray file in tmp/. The
 * unique name is "<seconds>.M<microseconds>P<pid>Q<counter>.<hostname>",
 * where the counter is per process, so two deliveries in one microsecond
 * by one process still get different names.
 */
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

/* The host name with "/" and ":" written as \057 and \072, as Maildir asks. */
static void put_hostname(struct hbk_buf *out)
{
	char host[HOSTNAME_MAX_BYTES];

	if (gethostname(host, sizeof(host)) != 0 || !host[0])
		hbk_copy(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = host; *p; p++) {
		if (*p == '/')
			hbk_buf_puts(out, "\\057");
		else if (*p == ':')
			hbk_buf_puts(out, "\\072");
		else
			hbk_buf_putc(out, *p);
	}
}

static void put_unique_name(struct hbk_buf *out)
{
	struct timeval now;
	unsigned long counter = __atomic_add_fetch(&delivery_counter, 1, __ATOMIC_RELAXED);

	gettimeofday(&now, NULL);
	hbk_buf_printf(out, "%lld.M%ldP%ldQ%lu.", (long long)now.tv_sec, (long)now.tv_usec,
		       (long)getpid(), counter);
	put_hostname(out);
}

static hbk_result write_all(int fd, const char *path, const char *data, size_t len,
			    struct hbk_error *err)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed",
					"cannot write %s: %s", path,
					n < 0 ? strerror(errno) : "no progress");
		data += n;
		len -= (size_t)n;
	}
	return HBK_OK;
}

/* Opens tmp/<unique> exclusively into *fd; fills tmp_path and name (owned
 * by the caller). */
static hbk_result create_unique(const char *maildir, struct hbk_buf *tmp_path, struct hbk_buf *name,
				int *fd, struct hbk_error *err)
{
	for (int attempt = 0; attempt < UNIQUE_ATTEMPTS_MAX; attempt++) {
		hbk_buf_reset(name);
		hbk_buf_reset(tmp_path);
		put_unique_name(name);
		hbk_buf_printf(tmp_path, "%s/tmp/%s", maildir, name->data);
		if (name->overflow || tmp_path->overflow)
			return hbk_fail(err, HBK_EINVAL, "maildir_failed",
					"maildir path is too long");
		*fd = open(tmp_path->data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, MESSAGE_MODE);
		if (*fd >= 0)
			return HBK_OK;
		if (errno != EEXIST)
			return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed",
					"cannot create %s: %s", tmp_path->data, strerror(errno));
	}
	return hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "no unique file name in %s/tmp",
			maildir);
}

/* Makes the rename durable: the entry in new/ is in the directory's data. */
static void sync_directory(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* The message is delivered either way; this only hurries the disk. */
	(void)fsync(fd);
	close(fd);
}

/*
 * Delivers message (len octets, borrowed) into maildir/new/. The Maildir
 * must have been prepared. On failure nothing is left in tmp/.
 */
hbk_result hbk_maildir_deliver(const char *maildir, const char *message, size_t len,
			       struct hbk_error *err)
{
	struct hbk_buf tmp_path, new_path, name;
	hbk_result rc = HBK_OK;

	HBK_ASSERT(maildir != NULL && message != NULL);
	hbk_buf_init(&tmp_path, PATH_MAX);
	hbk_buf_init(&new_path, PATH_MAX);
	hbk_buf_init(&name, PATH_MAX);
	int fd = -1;
	rc = create_unique(maildir, &tmp_path, &name, &fd, err);
	if (rc != HBK_OK)
		goto out;
	rc = write_all(fd, tmp_path.data, message, len, err);
	if (rc == HBK_OK && fsync(fd) != 0)
		rc = hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "cannot sync %s: %s",
			      tmp_path.data, strerror(errno));
	if (close(fd) != 0 && rc == HBK_OK)
		rc = hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "cannot close %s: %s",
			      tmp_path.data, strerror(errno));
	if (rc == HBK_OK && !hbk_buf_printf(&new_path, "%s/new/%s", maildir, name.data))
		rc = hbk_fail(err, HBK_EINVAL, "maildir_failed", "maildir path is too long");
	if (rc == HBK_OK && rename(tmp_path.data, new_path.data) != 0)
		rc = hbk_fail(err, HBK_EUNAVAILABLE, "maildir_failed", "cannot move %s to new/: %s",
			      tmp_path.data, strerror(errno));
	if (rc != HBK_OK) {
		unlink(tmp_path.data);
		goto out;
	}
	hbk_buf_reset(&new_path);
	if (hbk_buf_printf(&new_path, "%s/new", maildir))
		sync_directory(new_path.data);
out:
	hbk_buf_free(&name);
	hbk_buf_free(&new_path);
	hbk_buf_free(&tmp_path);
	return rc;
}
