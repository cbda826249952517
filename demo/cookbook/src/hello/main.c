#include <stdio.h>
#include <hello.h>

int main(void)
{
	puts(hello_message());
	return 0;
}
