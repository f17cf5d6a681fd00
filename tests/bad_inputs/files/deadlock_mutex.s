	.globl _start
_start:
	mutex_lock
	mutex_lock
