/* Host stand-in for mcusim.h (tests only): see pmsis.h here. */
#include "pmsis.h"
