	.globl _start
_start:
	vfcpkb.h.s fa4, ft5, ft8
	li a7, 93
	ecall
