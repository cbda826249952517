#include "zlib.h"
const char *zlibVersion(void) { return "cook-mini-1.0"; }
