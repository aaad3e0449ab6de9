// SPDX-License-Identifier: Apache-2.0
/* A dynamically linked monitor needs its loader and shared libraries inside
 * the jail: read the binary's PT_INTERP and DT_NEEDED entries (and those of
 * each library, recursively), find each library in the usual directories,
 * and copy it to the same path under the jail root, owned by root. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/jailer.h"

#define MAX_LIBS 32

/* Debian's multiarch folders of this architecture first: an arm64 host
 * with the amd64 libraries side by side (or the other way round) has
 * libraries of both under the same names. */
#ifdef __aarch64__
#define MULTIARCH "aarch64-linux-gnu"
#else
#define MULTIARCH "x86_64-linux-gnu"
#endif
static const char *const lib_dirs[] = { "/lib/" MULTIARCH,
					"/usr/lib/" MULTIARCH,
					"/lib64",
					"/usr/lib",
					"/lib",
					NULL };

struct elf_view {
	void *map;
	const uint8_t *data;
	size_t size;
	const Elf64_Ehdr *eh;
};

static const Elf64_Phdr *phdr(const struct elf_view *v, unsigned i)
{
	return (const Elf64_Phdr *)(const void *)(v->data + v->eh->e_phoff +
						  i * sizeof(Elf64_Phdr));
}

/* File offset of a virtual address, through the PT_LOAD segments. */
static bool vaddr_to_off(const struct elf_view *v, uint64_t vaddr,
			 uint64_t *off)
{
	unsigned i;

	for (i = 0; i < v->eh->e_phnum; i++) {
		const Elf64_Phdr *p = phdr(v, i);

		if (p->p_type == PT_LOAD && vaddr >= p->p_vaddr &&
		    vaddr - p->p_vaddr < p->p_filesz) {
			*off = p->p_offset + (vaddr - p->p_vaddr);
			return *off < v->size;
		}
	}
	return false;
}

static bool map_elf(const char *path, struct elf_view *v)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	if (fd < 0 || fstat(fd, &st) ||
	    (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return false;
	v->map = p;
	v->data = p;
	v->size = (size_t)st.st_size;
	v->eh = p;
	return !memcmp(v->eh->e_ident, ELFMAG, SELFMAG) &&
	       v->eh->e_ident[EI_CLASS] == ELFCLASS64 &&
	       v->eh->e_phentsize == sizeof(Elf64_Phdr) &&
	       v->eh->e_phoff <= v->size &&
	       v->eh->e_phnum * sizeof(Elf64_Phdr) <= v->size - v->eh->e_phoff;
}

struct lib_set {
	char paths[MAX_LIBS][PATH_MAX];
	unsigned count;
};

static int add_path(struct lib_set *s, const char *path)
{
	unsigned i;

	for (i = 0; i < s->count; i++)
		if (!strcmp(s->paths[i], path))
			return 0;
	if (s->count == MAX_LIBS || strlen(path) >= PATH_MAX)
		return -E2BIG;
	strcpy(s->paths[s->count++], path);
	return 1;
}

static int find_lib(const char *name, char *out)
{
	unsigned i;

	for (i = 0; lib_dirs[i]; i++) {
		snprintf(out, PATH_MAX, "%s/%s", lib_dirs[i], name);
		if (!access(out, R_OK))
			return 0;
	}
	return -ENOENT;
}

static int scan(const char *path, struct lib_set *s);

/* The DT_NEEDED names of one PT_DYNAMIC segment. */
static int scan_dynamic(const struct elf_view *v, const Elf64_Phdr *dyn,
			struct lib_set *s)
{
	const Elf64_Dyn *d =
		(const Elf64_Dyn *)(const void *)(v->data + dyn->p_offset);
	size_t n = dyn->p_filesz / sizeof(*d), i;
	uint64_t strtab = 0, off;
	char lib[PATH_MAX];
	int ret;

	if (dyn->p_offset > v->size || dyn->p_filesz > v->size - dyn->p_offset)
		return -ENOEXEC;
	for (i = 0; i < n && d[i].d_tag != DT_NULL; i++)
		if (d[i].d_tag == DT_STRTAB)
			strtab = d[i].d_un.d_ptr;
	if (!vaddr_to_off(v, strtab, &strtab))
		return -ENOEXEC;
	for (i = 0; i < n && d[i].d_tag != DT_NULL; i++) {
		if (d[i].d_tag != DT_NEEDED)
			continue;
		off = strtab + d[i].d_un.d_val;
		if (off >= v->size || !memchr(v->data + off, 0, v->size - off))
			return -ENOEXEC;
		if (find_lib((const char *)v->data + off, lib))
			return -ENOENT;
		ret = scan(lib, s);
		if (ret)
			return ret;
	}
	return 0;
}

static int scan(const char *path, struct lib_set *s)
{
	struct elf_view v;
	unsigned i;
	int ret = add_path(s, path);

	if (ret <= 0)
		return ret; /* seen already, or too many */
	if (!map_elf(path, &v))
		return -ENOEXEC;
	ret = 0;
	for (i = 0; i < v.eh->e_phnum && !ret; i++) {
		const Elf64_Phdr *p = phdr(&v, i);

		if (p->p_type == PT_INTERP && p->p_offset < v.size &&
		    memchr(v.data + p->p_offset, 0, v.size - p->p_offset))
			ret = scan((const char *)v.data + p->p_offset, s) < 0 ?
				      -ENOEXEC :
				      0;
		else if (p->p_type == PT_DYNAMIC)
			ret = scan_dynamic(&v, p, s);
	}
	munmap(v.map, v.size);
	return ret;
}

int jail_copy_libraries(const char *exec, const char *root,
			void (*copy)(const char *from, const char *to,
				     mode_t mode),
			void (*mkdirs)(char *path, mode_t mode))
{
	static struct lib_set set;
	char dst[PATH_MAX * 2], dir[PATH_MAX * 2], *slash;
	unsigned i;
	int ret;

	set.count = 0;
	ret = scan(exec, &set);
	for (i = 1; !ret && i < set.count; i++) { /* [0] is the binary */
		snprintf(dst, sizeof(dst), "%s%s", root, set.paths[i]);
		snprintf(dir, sizeof(dir), "%s", dst);
		slash = strrchr(dir, '/');
		*slash = '\0';
		mkdirs(dir, 0755);
		copy(set.paths[i], dst, 0755);
	}
	return ret;
}
