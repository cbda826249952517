#include "hello.h"

const char *hello_message(void)
{
	return "Hello from libhello, built by cook";
}
