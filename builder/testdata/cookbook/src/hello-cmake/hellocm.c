#include "hellocm.h"
int hellocm_answer(void) { return 42; }
