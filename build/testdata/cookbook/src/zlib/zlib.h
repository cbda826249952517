const char *zlibVersion(void);
