/* libhello: the demo's C library. */
const char *hello_message(void);
