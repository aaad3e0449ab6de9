/* SPDX-License-Identifier: Apache-2.0 */
/* Shared includes for the cmocka unit tests (tests/unit/test_*.c): each
 * file is one binary linked against build/libmicrovm.a. */
#ifndef MICROVM_UNIT_H
#define MICROVM_UNIT_H

#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

#define MIB (1ULL << 20)

#endif
