#include "rv_loop.h"

#include <stddef.h>

#include "rv_err.h"

/* Watchers and timers start with struct rv_loop_obj (see rv_loop.h). */
static const struct rv_loop_ops *rv_loop_ops_of(const void *obj)
{
	return ((const struct rv_loop_obj *)obj)->loop->ops;
}

int rv_loop_fd_set_events(struct rv_loop_fd *w, unsigned events)
{
	return w == NULL ? RV_ERR_INVALID_ARG : rv_loop_ops_of(w)->fd_set_events(w, events);
}

void rv_loop_fd_del(struct rv_loop_fd *w)
{
	if (w != NULL)
		rv_loop_ops_of(w)->fd_del(w);
}

void rv_loop_timer_set(struct rv_loop_timer *t, uint64_t delay_ms)
{
	if (t != NULL)
		rv_loop_ops_of(t)->timer_set(t, delay_ms);
}

void rv_loop_timer_stop(struct rv_loop_timer *t)
{
	if (t != NULL)
		rv_loop_ops_of(t)->timer_stop(t);
}

void rv_loop_timer_free(struct rv_loop_timer *t)
{
	if (t != NULL)
		rv_loop_ops_of(t)->timer_free(t);
}
