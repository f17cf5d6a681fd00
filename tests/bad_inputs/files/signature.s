	.globl _start
_start:
	la t0, begin_signature
	li t1, 0x12345678
	sw t1, 0(t0)
	lw a0, 8(zero)
	.data
	.globl begin_signature, end_signature
begin_signature: .word 0, 0
end_signature:
