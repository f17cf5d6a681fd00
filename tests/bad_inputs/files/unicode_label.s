	.globl _start
_start:
	j café
