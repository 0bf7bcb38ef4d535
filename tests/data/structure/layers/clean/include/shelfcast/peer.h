/* peer: nn */
int peer(void);
