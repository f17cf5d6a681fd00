	.globl _start
_start:
	.word 0xffffffff
