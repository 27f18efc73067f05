#ifndef PATRON_CLMDB_SHIM_H
#define PATRON_CLMDB_SHIM_H
#include <lmdb.h>
#endif
