/*
 * hashmap — see include/shelfcast/hashmap.h.
 *
 * Slots hold (hash, key offset, length, value); keys live back to back in a
 * pool of chunks that never move, so a slot's key pointer stays valid when
 * the slot array grows.  Load factor is kept at or below 1/2.
 */
#include "shelfcast/hashmap.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	uint64_t hash;
	const char *key; /* NULL: empty slot */
	size_t len;
	int32_t value;
};

struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};

struct hashmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t count;
	struct chunk *chunks;
};

uint64_t hashmap_hash(const void *data, size_t len, uint64_t seed)
{
	/*
	 * Eight bytes per step (a byte at a time was most of a feature-name
	 * lookup): each word is folded in by a multiply and a shift, the length
	 * seeds the state so that trailing zero bytes still count, and a final
	 * avalanche makes the low bits depend on every byte.
	 */
	const unsigned char *p = data;
	uint64_t h = (0xcbf29ce484222325ULL ^ seed) + (uint64_t)len * 0x9e3779b97f4a7c15ULL, w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
	}
	if (i < len) {
		if (len >= 8) { /* the last eight bytes, overlapping the ones already in */
			memcpy(&w, p + len - 8, 8);
		} else {
			w = 0;
			while (i < len)
				w = (w << 8) | p[i++];
		}
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

struct hashmap *hashmap_new(size_t expected)
{
	struct hashmap *map = calloc(1, sizeof *map);
	size_t cap = 16;

	if (!map)
		return NULL;
	while (cap < expected * 2 && cap < ((size_t)1 << 40))
		cap *= 2;
	map->slots = calloc(cap, sizeof *map->slots);
	if (!map->slots) {
		free(map);
		return NULL;
	}
	map->cap = cap;
	return map;
}

void hashmap_free(struct hashmap *map)
{
	struct chunk *c, *next;

	if (!map)
		return;
	for (c = map->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(map->slots);
	free(map);
}

static const char *store_key(struct hashmap *map, const char *key, size_t len)
{
	struct chunk *c = map->chunks;
	char *p;

	if (!c || c->cap - c->used < len + 1) {
		size_t cap = len + 1 > 4096 ? len + 1 : 4096;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = map->chunks;
		map->chunks = c;
	}
	p = c->data + c->used;
	memcpy(p, key, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

static struct slot *find(const struct hashmap *map, const char *key, size_t len, uint64_t h)
{
	size_t mask = map->cap - 1, i = (size_t)h & mask;

	for (;;) {
		struct slot *s = &map->slots[i];
		if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
			return s;
		i = (i + 1) & mask;
	}
}

static int grow(struct hashmap *map)
{
	size_t cap = map->cap * 2, i;
	struct slot *slots = calloc(cap, sizeof *slots), *old = map->slots;

	if (!slots)
		return -1;
	map->slots = slots;
	map->cap = cap;
	for (i = 0; i < cap / 2; i++)
		if (old[i].key)
			*find(map, old[i].key, old[i].len, old[i].hash) = old[i];
	free(old);
	return 0;
}

int32_t hashmap_put(struct hashmap *map, const char *key, size_t len, int32_t value)
{
	uint64_t h = hashmap_hash(key, len, 0);
	struct slot *s = find(map, key, len, h);

	if (s->key)
		return s->value;
	if ((map->count + 1) * 2 > map->cap) {
		if (grow(map) < 0)
			return -1;
		s = find(map, key, len, h);
	}
	s->key = store_key(map, key, len);
	if (!s->key)
		return -1;
	s->hash = h;
	s->len = len;
	s->value = value;
	map->count++;
	return value;
}

int32_t hashmap_get(const struct hashmap *map, const char *key, size_t len)
{
	const struct slot *s = find(map, key, len, hashmap_hash(key, len, 0));
	return s->key ? s->value : -1;
}

size_t hashmap_count(const struct hashmap *map)
{
	return map->count;
}
