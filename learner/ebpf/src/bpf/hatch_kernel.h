/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The few kernel types the probe reads, declared by hand instead of a
 * generated vmlinux.h (so the build needs neither bpftool nor root).
 *
 * Every struct is marked preserve_access_index: clang emits CO-RE
 * relocations for each field access and libbpf resolves them against the
 * running kernel's BTF (/sys/kernel/btf/vmlinux) at load time. Field order
 * and offsets here are therefore irrelevant; only names and types matter.
 */
#ifndef HATCH_KERNEL_H
#define HATCH_KERNEL_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

/* From include/uapi/linux/bpf.h. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_SK_STORAGE = 24,
};

#define BPF_F_NO_PREALLOC 1
#define BPF_SK_STORAGE_GET_F_CREATE 1

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

#define IPPROTO_TCP 6

struct sock_common {
	__u16 skc_num; /* local port, host byte order */
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct sk_buff {
	char cb[48]; /* TCP's control block, struct tcp_skb_cb, while in TCP */
} __attribute__((preserve_access_index));

/* The head of struct tcp_skb_cb (include/net/tcp.h), a stable layout. */
struct tcp_skb_cb_head {
	__u32 seq;     /* starting sequence number */
	__u32 end_seq; /* seq + SYN + FIN + payload length */
};

/* struct tcp_sock starts with the struct sock it extends. */
struct tcp_sock {
	__u32 srtt_us;	     /* smoothed RTT << 3, in microseconds */
	__u32 snd_nxt;	     /* next sequence number to send */
	__u64 tcp_wstamp_ns; /* departure time of the last segment sent, CLOCK_MONOTONIC */
} __attribute__((preserve_access_index));

#endif
