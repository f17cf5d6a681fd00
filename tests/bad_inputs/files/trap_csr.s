	.globl _start
_start:
	csrr a0, 0x7ff
