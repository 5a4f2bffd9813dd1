// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
//
// Redirects IPv4 UDP datagrams for the Hatch port to the AF_XDP socket of the receiving queue
// (XSKMAP slot = rx queue index). Everything else, including IP fragments, IPv4 with options,
// and packets for a queue without a socket, passes to the kernel stack untouched.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// The Hatch UDP port in network byte order; set by the loader before the program is loaded.
volatile const __u16 hatch_port = 0;

SEC("xdp")
int hatch_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (ip->frag_off & bpf_htons(0x3fff))
		return XDP_PASS;

	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end || udp->dest != hatch_port)
		return XDP_PASS;

	// The low bits of the flags are the action when the slot holds no socket.
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
