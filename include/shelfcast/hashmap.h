/*
 * hashmap — byte-string keys to int32 values, open addressing, linear probing.
 * Used for categorical vocabularies (value -> one-hot slot), feature names
 * (name -> input index) and the trainer's category interning.
 *
 * The map copies every key into storage it owns; lookups never allocate.
 * Values are caller-chosen non-negative int32; a miss returns -1.
 *
 * Thread-safety: concurrent hashmap_get calls are safe on a map no one
 * modifies (a published model's maps are never modified).
 */
#ifndef SHELFCAST_HASHMAP_H
#define SHELFCAST_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap;

/* New empty map sized for about `expected` keys; NULL on allocation failure. */
struct hashmap *hashmap_new(size_t expected);
void hashmap_free(struct hashmap *map);

/*
 * Insert key -> value unless key is present.  Returns the value now stored
 * for key (the existing one when it was present), or -1 on allocation failure.
 */
int32_t hashmap_put(struct hashmap *map, const char *key, size_t len, int32_t value);
/* The value stored for key, or -1. */
int32_t hashmap_get(const struct hashmap *map, const char *key, size_t len);
size_t hashmap_count(const struct hashmap *map);

/* A 64-bit hash, eight bytes at a step; exposed for callers that hash rows. Not stable across builds. */
uint64_t hashmap_hash(const void *data, size_t len, uint64_t seed);

#endif
