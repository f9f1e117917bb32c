/* test_log_ratelimit.c - the per-site log rate limit (rv_log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rv_log.h"

static void test_burst_then_suppress(void **state)
{
	struct rv_log_ratelimit rl;
	uint32_t dropped = 99;
	int i, printed = 0;

	(void)state;
	memset(&rl, 0, sizeof(rl));
	for (i = 0; i < 1000; i++)
		printed += rv_log_ratelimit_allow(&rl, 5000 + (uint64_t)i, &dropped);
	assert_int_equal(printed, RV_LOG_RL_BURST);
	/* Next window: allowed again, and told how many were dropped. */
	assert_int_equal(rv_log_ratelimit_allow(&rl, 5000 + RV_LOG_RL_INTERVAL_MS, &dropped), 1);
	assert_int_equal(dropped, 1000 - RV_LOG_RL_BURST);
	assert_int_equal(rv_log_ratelimit_allow(&rl, 5001 + RV_LOG_RL_INTERVAL_MS, &dropped), 1);
	assert_int_equal(dropped, 0);
}

static void test_slow_sites_never_suppressed(void **state)
{
	struct rv_log_ratelimit rl;
	uint32_t dropped;
	uint64_t t;

	(void)state;
	memset(&rl, 0, sizeof(rl));
	/* Time 0 is a valid clock reading too. */
	for (t = 0; t < 100ull * RV_LOG_RL_INTERVAL_MS; t += RV_LOG_RL_INTERVAL_MS / 2) {
		assert_int_equal(rv_log_ratelimit_allow(&rl, t, &dropped), 1);
		assert_int_equal(dropped, 0);
	}
}

static void test_sites_independent(void **state)
{
	struct rv_log_ratelimit a, b;
	uint32_t dropped;
	int i;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (i = 0; i < 100; i++)
		(void)rv_log_ratelimit_allow(&a, 1000, &dropped);
	assert_int_equal(rv_log_ratelimit_allow(&a, 1000, &dropped), 0);
	assert_int_equal(rv_log_ratelimit_allow(&b, 1000, &dropped), 1);
	/* The wrapper prints without crashing, also when suppressed. */
	for (i = 0; i < 3 * RV_LOG_RL_BURST; i++)
		rv_log_ratelimited(&b, RV_LOG_DEBUG, "line %d", i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_suppress),
		cmocka_unit_test(test_slow_sites_never_suppressed),
		cmocka_unit_test(test_sites_independent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
