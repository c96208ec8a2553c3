/* check_run.h — the runner every Check test's main() shares:
 *
 *     return check_failed(suite(), CK_ENV) ? EXIT_FAILURE : EXIT_SUCCESS;
 */
#ifndef SPARKD_TESTS_CHECK_RUN_H
#define SPARKD_TESTS_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Runs s (and frees it) printing as mode says; the number of tests failed. */
static inline int check_failed(Suite *s, enum print_output mode)
{
    SRunner *r = srunner_create(s);
    srunner_run_all(r, mode);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed;
}

#endif
