// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Hatch's eBPF latency probe. See the crate docs (src/lib.rs) for what is
 * measured and why; the layout of the maps is mirrored in src/layout.rs.
 *
 * BTF-typed raw tracepoints (tp_btf: attached through
 * BPF_RAW_TRACEPOINT_OPEN, no tracefs mount, no kprobes/uprobes/fentry).
 * Their arguments are typed kernel pointers, so fields are read with plain
 * (CO-RE relocated, fault-protected) loads instead of bpf_probe_read_kernel
 * calls: with this kernel's mitigations (SRSO "Safe RET") every helper call
 * is expensive, and tcp_probe runs on every TCP segment in the system.
 */
#include "hatch_kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Keep in sync with src/layout.rs. */
#define MAX_SLOTS 64
#define NO_SLOT 0xff
#define WATCHED (1u << 24)
#define SERVICE_SLOT(w) ((w) & 0xff)
#define RTT_SLOT(w) (((w) >> 8) & 0xff)
#define REPLY_SLOT(w) (((w) >> 16) & 0xff)

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct totals {
	__u64 count;
	__u64 sum_ns;
};

/* A socket's request in progress. */
struct pending {
	__u64 arrival; /* first payload segment of the request (ns, CLOCK_MONOTONIC), 0 = none */
	__u32 snd_nxt; /* tcp_sock.snd_nxt at that arrival: a change means a reply left */
	__u32 allowed; /* a process of the pid filter sent on this socket */
};

/*
 * Local port -> slot indices, packed: bits 0-7 Service slot, 8-15 Rtt slot,
 * 16-23 Reply slot (NO_SLOT = none), bit 24 set when the port is watched.
 * An array indexed by port: one inlined lookup rejects unrelated traffic.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} ports SEC(".maps");

/* Process ids (tgid) whose replies are timed, used when config[0] != 0. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

/* config[0]: non-zero when the pid filter is on. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

/* Cumulative per-slot totals, one copy per CPU (no atomics on the path). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct totals);
} slot_totals SEC(".maps");

/* Each socket's request in progress, stored on the socket itself: found
 * without hashing, and freed with the socket (no stale entries, no limit). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending);
} pending SEC(".maps");

static __always_inline void record(__u32 slot, __u64 ns)
{
	struct totals *t;

	if (slot >= MAX_SLOTS)
		return;
	t = bpf_map_lookup_elem(&slot_totals, &slot);
	if (!t)
		return;
	/*
	 * Per-CPU value, written only by hatch_tcp_probe, which never nests
	 * with itself on a CPU: plain adds lose nothing.
	 */
	t->count += 1;
	t->sum_ns += ns;
}

/* The slot word of a watched TCP socket, or 0. */
static __always_inline __u32 watched(struct sock *sk)
{
	__u32 port, *slots;

	if (!sk)
		return 0;
	port = sk->__sk_common.skc_num;
	slots = bpf_map_lookup_elem(&ports, &port);
	if (!slots || !(*slots & WATCHED))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return *slots;
}

static __always_inline int pid_filter_on(void)
{
	__u32 key = 0, *on = bpf_map_lookup_elem(&config, &key);

	return on && *on;
}

/* Whether the current process passes the pid filter. */
static __always_inline int pid_allowed(void)
{
	__u32 tgid;

	if (!pid_filter_on())
		return 1;
	tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&pids, &tgid) != 0;
}

/* The socket as a tcp_sock (watched sockets are TCP); an inlined kfunc. */
static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return bpf_core_cast(sk, struct tcp_sock);
}

/* Sequence space a segment takes: its payload (plus one for a SYN or FIN),
 * from TCP's control block in skb->cb, filled in by tcp_v4_rcv/tcp_v6_rcv:
 * two plain loads, no helper call. */
static __always_inline __u32 seq_len(const struct sk_buff *skb)
{
	const struct tcp_skb_cb_head *cb = (const void *)skb->cb;

	return cb->end_seq - cb->seq;
}

/*
 * TP_PROTO(struct sock *sk, const struct sk_buff *skb): a segment arrived on
 * an established TCP socket (tcp_rcv_established), in softirq or, from the
 * socket backlog, in process context.
 *
 * The only program on the measuring path. A reply is recognised after the
 * fact: when a segment arrives (the client's next request, or its ACK of
 * the reply) and the socket has sent data since the pending request came,
 * that request was answered; its reply left at tcp_wstamp_ns, the departure
 * time of the last segment sent.
 */
SEC("tp_btf/tcp_probe")
int hatch_tcp_probe(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	struct pending *p;
	struct tcp_sock *tp;
	__u64 now, sent, service;
	__u32 slots, slot, payload;

	slots = watched(sk);
	if (!slots)
		return 0;
	tp = tcp_sk(sk);
	slot = RTT_SLOT(slots);
	if (slot != NO_SLOT && tp->srtt_us)
		record(slot, (__u64)(tp->srtt_us >> 3) * 1000);
	if (SERVICE_SLOT(slots) == NO_SLOT && REPLY_SLOT(slots) == NO_SLOT)
		return 0;
	payload = seq_len(skb);
	p = bpf_sk_storage_get(&pending, sk, 0, payload ? BPF_SK_STORAGE_GET_F_CREATE : 0);
	if (!p)
		return 0;
	if (!p->arrival && !payload)
		return 0; /* an ACK, nothing pending */
	now = bpf_ktime_get_ns();
	if (p->arrival && tp->snd_nxt != p->snd_nxt) {
		sent = tp->tcp_wstamp_ns;
		if (sent > now) /* pacing sets departure times ahead */
			sent = now;
		if (sent > p->arrival && (p->allowed || !pid_filter_on())) {
			service = sent - p->arrival;
			slot = SERVICE_SLOT(slots);
			if (slot != NO_SLOT)
				record(slot, service);
			slot = REPLY_SLOT(slots);
			if (slot != NO_SLOT)
				record(slot, service + (__u64)(tp->srtt_us >> 3) * 1000);
		}
		p->arrival = 0;
	}
	/* Else, with a request pending: more of it, or a pipelined one. */
	if (payload && !p->arrival) {
		p->arrival = now;
		p->snd_nxt = tp->snd_nxt;
	}
	return 0;
}

/*
 * TP_PROTO(struct sock *sk, int ret, int flags): sock_sendmsg returned.
 * Attached only with a pid filter: tcp_probe runs in softirq context, where
 * the current task is unrelated, so the sending task marks the socket.
 */
SEC("tp_btf/sock_send_length")
int hatch_send(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	int ret = (int)ctx[1];
	struct pending *p;

	if (ret <= 0 || !watched(sk))
		return 0;
	p = bpf_sk_storage_get(&pending, sk, 0, 0);
	if (p && p->allowed)
		return 0; /* marked already: the usual case, no pid lookup */
	if (!pid_allowed())
		return 0;
	p = bpf_sk_storage_get(&pending, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (p)
		p->allowed = 1;
	return 0;
}
