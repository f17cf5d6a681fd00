	.globl _start
_start:
	li sp, 0x10000000
	sw a0, -4(sp)
