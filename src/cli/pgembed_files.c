/*
 * pgembed_files — the file rules of the embedded PostgreSQL (see
 * include/shelfcast/pgembed.h): shelfcast may run as root there, in a
 * directory an operator chose, so it trusts no name in it it did not check.
 */
#include "shelfcast/pgembed.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum error_code pgembed_check_private_dir(const char *dir, struct error *err)
{
	struct stat st;

	if (lstat(dir, &st) != 0)
		return error_set(err, ERROR_IO, NULL, "cannot inspect %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return error_set(err, ERROR_IO, NULL,
				 "directory %s %s: refusing to use it, since another user could "
				 "plant links there (make it a directory of user %ld that only it may "
				 "write: chown, chmod go-w)",
				 dir,
				 !S_ISDIR(st.st_mode)     ? "is not a directory"
				 : st.st_uid != geteuid() ? "belongs to another user"
							  : "is writable by group or others",
				 (long)geteuid());
	return ERROR_OK;
}

int pgembed_open_private_file(const struct pgembed *pg, int dir, const char *name, int flags,
			     struct error *err)
{
	struct stat st;
	int fd = openat(dir, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 && errno == EEXIST)
		fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		error_set(err, ERROR_IO, NULL, "cannot open %s/%s: %s", pg->data_dir, name,
			  errno == ELOOP ? "it is a symbolic link, refusing to follow it"
					 : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_uid != geteuid() && !(pg->switch_user && st.st_uid == pg->run_uid))) {
		close(fd);
		error_set(err, ERROR_IO, NULL,
			  "%s/%s is not a regular file of this user's with a single name: refusing "
			  "to use it",
			  pg->data_dir, name);
		return -1;
	}
	return fd;
}

enum error_code pgembed_check_cluster_dir(const char *cluster, bool *exists, struct error *err)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *e;
	bool empty = true;
	struct stat st;

	*exists = false;
	if (lstat(cluster, &st) != 0) {
		if (errno == ENOENT)
			return ERROR_OK;
		return error_set(err, ERROR_IO, NULL, "cannot inspect %s: %s", cluster, strerror(errno));
	}
	if (S_ISLNK(st.st_mode))
		return error_set(err, ERROR_IO, NULL,
				 "%s is a symbolic link: refusing to follow it (the only link allowed is "
				 "the one shelfcast makes when it keeps the cluster under %s)",
				 cluster, PGEMBED_CLUSTERS_DIR);
	if (!S_ISDIR(st.st_mode))
		return error_set(err, ERROR_IO, NULL,
				 "%s exists and is not a directory: not a PostgreSQL cluster, refusing "
				 "to touch it",
				 cluster);
	snprintf(p, sizeof p, "%s/PG_VERSION", cluster);
	if (access(p, F_OK) == 0) {
		*exists = true;
		return ERROR_OK;
	}
	d = opendir(cluster);
	if (!d)
		return error_set(err, ERROR_IO, NULL, "cannot read %s: %s", cluster, strerror(errno));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	if (!empty)
		return error_set(err, ERROR_IO, NULL,
				 "%s is not empty and holds no PostgreSQL cluster (no PG_VERSION): "
				 "refusing to touch it; move it away or choose another --data-dir",
				 cluster);
	return ERROR_OK;
}
