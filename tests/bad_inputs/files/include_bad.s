# an error inside the included file names both files
	.include "inc/bad.inc"
