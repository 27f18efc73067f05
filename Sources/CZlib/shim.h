#ifndef PATRON_CZLIB_SHIM_H
#define PATRON_CZLIB_SHIM_H
#include <zlib.h>
#endif
