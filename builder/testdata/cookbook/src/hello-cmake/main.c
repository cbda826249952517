#include <stdio.h>
#include "hellocm.h"
int main(void) { printf("%s %d\n", GREETING, hellocm_answer()); return 0; }
