/* catmem: byte accounting of arenas with a limit (LIMITS in the manual). Part of the
   implementation (core/impl.h); a service of the core to the engines (core/contract.h). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* ---- byte accounting: limits and peaks (LIMITS in the manual) ----------------------------------
   A counted arena's backend charges the bytes of every block before it takes it from the
   backend arena (the class size: what allocated counts) and uncharges them when the block goes
   back; the core zeroes the charge at reset and release. One place decides against the limit. */

/* The backend charges s's blocks (s->counted, written under catmemi_mu, read anywhere). */
static inline int catmemi_counted(const catmemi_slot *s) {
    return __atomic_load_n(&s->counted, __ATOMIC_RELAXED);
}

/* The total now charged to s when bytes (> 0) more fit under limit (0: none) and are charged;
   0 when they do not. The peak waits for the blocks to exist (catmemi_peak): a charge whose
   allocation then fails must not raise it. */
static size_t catmemi_charge_under(catmemi_slot *s, size_t bytes, size_t limit) {
    size_t now = __atomic_load_n(&s->charged, __ATOMIC_RELAXED), next;
    do {
        if (bytes > SIZE_MAX - now) return 0;
        next = now + bytes;
        if (limit != 0 && next > limit) return 0;
    } while (!__atomic_compare_exchange_n(&s->charged, &now, next, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return next;
}

static size_t catmemi_charge(catmemi_slot *s, size_t bytes) {
    return catmemi_charge_under(s, bytes, __atomic_load_n(&s->limit, __ATOMIC_RELAXED));
}

/* The blocks that took s's charge to total exist: the peak rises to it. */
static void catmemi_peak(catmemi_slot *s, size_t total) {
    size_t peak = __atomic_load_n(&s->peak, __ATOMIC_RELAXED);
    while (total > peak && !__atomic_compare_exchange_n(&s->peak, &peak, total, 1,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/* Never below zero: a block freed through the wrong arena's handle (jemalloc trusts the handle)
   must not make the charge wrap. */
static void catmemi_uncharge(catmemi_slot *s, size_t bytes) {
    size_t now = __atomic_load_n(&s->charged, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&s->charged, &now, now > bytes ? now - bytes : 0, 1,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/* A block of s changes from old to new bytes in place, or was charged a guess: the difference,
   whatever the limit (the block exists already), and the peak follows. */
static void catmemi_recharge(catmemi_slot *s, size_t old, size_t now) {
    if (now > old)
        (void)catmemi_charge_under(s, now - old, 0);
    else if (now < old)
        catmemi_uncharge(s, old - now);
    catmemi_peak(s, __atomic_load_n(&s->charged, __ATOMIC_RELAXED));
}

