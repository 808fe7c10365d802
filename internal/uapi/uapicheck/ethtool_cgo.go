//go:build uapicheck

package uapicheck

/*
#include <sys/socket.h>
#include <linux/types.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/sockios.h>
#include <stddef.h>
// Members of anonymous unions and macro-named members cgo cannot name.
static long off_rxnfc_rule_cnt(void) { return offsetof(struct ethtool_rxnfc, rule_cnt); }
static long off_rxnfc_rss_context(void) { return offsetof(struct ethtool_rxnfc, rss_context); }
static long off_rxnfc_rule_locs(void) { return offsetof(struct ethtool_rxnfc, rule_locs); }
static long off_rxfh_indir_ring_index(void) { return offsetof(struct ethtool_rxfh_indir, ring_index); }
static long off_ifreq_name(void) { return offsetof(struct ifreq, ifr_name); }
static long off_ifreq_data(void) { return offsetof(struct ifreq, ifr_data); }
static long flow_union_size(void) { return sizeof(union ethtool_flow_union); }
static long off_fs_tcp_ip4_spec(void) { return offsetof(struct ethtool_rx_flow_spec, h_u.tcp_ip4_spec); }
static long off_fs_tcp_ip6_spec(void) { return offsetof(struct ethtool_rx_flow_spec, h_u.tcp_ip6_spec); }
static long off_fs_m_tcp_ip4_spec(void) { return offsetof(struct ethtool_rx_flow_spec, m_u.tcp_ip4_spec); }
*/
import "C"

import (
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

func init() {
	var c4 C.struct_ethtool_tcpip4_spec
	var g4 uapi.EthtoolTcpip4Spec
	var c6 C.struct_ethtool_tcpip6_spec
	var g6 uapi.EthtoolTcpip6Spec
	var cx C.struct_ethtool_flow_ext
	var gx uapi.EthtoolFlowExt
	var cf C.struct_ethtool_rx_flow_spec
	var gf uapi.EthtoolRxFlowSpec
	var cn C.struct_ethtool_rxnfc
	var gn uapi.EthtoolRxnfc
	var ci C.struct_ethtool_rxfh_indir
	var gi uapi.EthtoolRxfhIndir
	var cc C.struct_ethtool_channels
	var gc uapi.EthtoolChannels
	var gr uapi.IfreqData
	bits := func(v uint64) int64 { return int64(v) }
	off := func(p, base unsafe.Pointer) int64 { return int64(uintptr(p) - uintptr(base)) }
	register(
		// Constants x/sys/unix lacks.
		Check{"ETHTOOL_TCP_DATA_SPLIT_UNKNOWN", C.ETHTOOL_TCP_DATA_SPLIT_UNKNOWN, uapi.ETHTOOL_TCP_DATA_SPLIT_UNKNOWN},
		Check{"ETHTOOL_TCP_DATA_SPLIT_DISABLED", C.ETHTOOL_TCP_DATA_SPLIT_DISABLED, uapi.ETHTOOL_TCP_DATA_SPLIT_DISABLED},
		Check{"ETHTOOL_TCP_DATA_SPLIT_ENABLED", C.ETHTOOL_TCP_DATA_SPLIT_ENABLED, uapi.ETHTOOL_TCP_DATA_SPLIT_ENABLED},
		Check{"ETHTOOL_MSG_RSS_SET", C.ETHTOOL_MSG_RSS_SET, uapi.ETHTOOL_MSG_RSS_SET},
		Check{"ETHTOOL_MSG_RSS_CREATE_ACT", C.ETHTOOL_MSG_RSS_CREATE_ACT, uapi.ETHTOOL_MSG_RSS_CREATE_ACT},
		Check{"ETHTOOL_MSG_RSS_DELETE_ACT", C.ETHTOOL_MSG_RSS_DELETE_ACT, uapi.ETHTOOL_MSG_RSS_DELETE_ACT},
		Check{"ETHTOOL_A_RSS_HEADER", C.ETHTOOL_A_RSS_HEADER, uapi.ETHTOOL_A_RSS_HEADER},
		Check{"ETHTOOL_A_RSS_CONTEXT", C.ETHTOOL_A_RSS_CONTEXT, uapi.ETHTOOL_A_RSS_CONTEXT},
		Check{"ETHTOOL_A_RSS_HFUNC", C.ETHTOOL_A_RSS_HFUNC, uapi.ETHTOOL_A_RSS_HFUNC},
		Check{"ETHTOOL_A_RSS_INDIR", C.ETHTOOL_A_RSS_INDIR, uapi.ETHTOOL_A_RSS_INDIR},
		Check{"ETHTOOL_A_RSS_HKEY", C.ETHTOOL_A_RSS_HKEY, uapi.ETHTOOL_A_RSS_HKEY},
		Check{"ETHTOOL_A_RSS_INPUT_XFRM", C.ETHTOOL_A_RSS_INPUT_XFRM, uapi.ETHTOOL_A_RSS_INPUT_XFRM},
		Check{"ETHTOOL_A_RSS_START_CONTEXT", C.ETHTOOL_A_RSS_START_CONTEXT, uapi.ETHTOOL_A_RSS_START_CONTEXT},
		Check{"ETHTOOL_A_RSS_FLOW_HASH", C.ETHTOOL_A_RSS_FLOW_HASH, uapi.ETHTOOL_A_RSS_FLOW_HASH},
		Check{"FLOW_EXT", C.FLOW_EXT, uapi.FLOW_EXT},
		Check{"FLOW_MAC_EXT", C.FLOW_MAC_EXT, uapi.FLOW_MAC_EXT},
		Check{"FLOW_RSS", C.FLOW_RSS, uapi.FLOW_RSS},
		Check{"RX_CLS_LOC_SPECIAL", C.RX_CLS_LOC_SPECIAL, uapi.RX_CLS_LOC_SPECIAL},
		Check{"RX_CLS_LOC_ANY", C.RX_CLS_LOC_ANY, uapi.RX_CLS_LOC_ANY},
		Check{"RX_CLS_LOC_FIRST", C.RX_CLS_LOC_FIRST, uapi.RX_CLS_LOC_FIRST},
		Check{"RX_CLS_LOC_LAST", C.RX_CLS_LOC_LAST, uapi.RX_CLS_LOC_LAST},
		// 64-bit values: compare through int64 bit patterns.
		Check{"RX_CLS_FLOW_DISC", bits(C.RX_CLS_FLOW_DISC), bits(uapi.RX_CLS_FLOW_DISC)},
		Check{"RX_CLS_FLOW_WAKE", bits(C.RX_CLS_FLOW_WAKE), bits(uapi.RX_CLS_FLOW_WAKE)},
		Check{"ETH_RXFH_CONTEXT_ALLOC", C.ETH_RXFH_CONTEXT_ALLOC, uapi.ETH_RXFH_CONTEXT_ALLOC},
		Check{"ETH_RXFH_INDIR_NO_CHANGE", C.ETH_RXFH_INDIR_NO_CHANGE, uapi.ETH_RXFH_INDIR_NO_CHANGE},
		Check{"XDP_ATTACHED_NONE", C.XDP_ATTACHED_NONE, uapi.XDP_ATTACHED_NONE},
		Check{"XDP_ATTACHED_DRV", C.XDP_ATTACHED_DRV, uapi.XDP_ATTACHED_DRV},
		Check{"XDP_ATTACHED_SKB", C.XDP_ATTACHED_SKB, uapi.XDP_ATTACHED_SKB},
		Check{"XDP_ATTACHED_HW", C.XDP_ATTACHED_HW, uapi.XDP_ATTACHED_HW},
		Check{"XDP_ATTACHED_MULTI", C.XDP_ATTACHED_MULTI, uapi.XDP_ATTACHED_MULTI},
		Check{"VETH_INFO_PEER", C.VETH_INFO_PEER, uapi.VETH_INFO_PEER},

		// x/sys/unix values the netdev package relies on.
		Check{"SIOCETHTOOL", C.SIOCETHTOOL, unix.SIOCETHTOOL},
		Check{"ETHTOOL_SRXCLSRLINS", C.ETHTOOL_SRXCLSRLINS, unix.ETHTOOL_SRXCLSRLINS},
		Check{"ETHTOOL_SRXCLSRLDEL", C.ETHTOOL_SRXCLSRLDEL, unix.ETHTOOL_SRXCLSRLDEL},
		Check{"ETHTOOL_GRXCLSRLCNT", C.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_GRXCLSRLCNT},
		Check{"ETHTOOL_GRXCLSRLALL", C.ETHTOOL_GRXCLSRLALL, unix.ETHTOOL_GRXCLSRLALL},
		Check{"ETHTOOL_GRXRINGS", C.ETHTOOL_GRXRINGS, unix.ETHTOOL_GRXRINGS},
		Check{"ETHTOOL_GRXFHINDIR", C.ETHTOOL_GRXFHINDIR, unix.ETHTOOL_GRXFHINDIR},
		Check{"ETHTOOL_SRXFHINDIR", C.ETHTOOL_SRXFHINDIR, unix.ETHTOOL_SRXFHINDIR},
		Check{"ETHTOOL_GCHANNELS", C.ETHTOOL_GCHANNELS, unix.ETHTOOL_GCHANNELS},
		Check{"TCP_V4_FLOW", C.TCP_V4_FLOW, unix.TCP_V4_FLOW},
		Check{"TCP_V6_FLOW", C.TCP_V6_FLOW, unix.TCP_V6_FLOW},
		Check{"ETHTOOL_MSG_RINGS_GET", C.ETHTOOL_MSG_RINGS_GET, unix.ETHTOOL_MSG_RINGS_GET},
		Check{"ETHTOOL_MSG_RINGS_SET", C.ETHTOOL_MSG_RINGS_SET, unix.ETHTOOL_MSG_RINGS_SET},
		Check{"ETHTOOL_MSG_CHANNELS_GET", C.ETHTOOL_MSG_CHANNELS_GET, unix.ETHTOOL_MSG_CHANNELS_GET},
		Check{"ETHTOOL_MSG_CHANNELS_SET", C.ETHTOOL_MSG_CHANNELS_SET, unix.ETHTOOL_MSG_CHANNELS_SET},
		Check{"ETHTOOL_MSG_RSS_GET", C.ETHTOOL_MSG_RSS_GET, unix.ETHTOOL_MSG_RSS_GET},
		Check{"ETHTOOL_MSG_FEATURES_GET", C.ETHTOOL_MSG_FEATURES_GET, unix.ETHTOOL_MSG_FEATURES_GET},
		Check{"ETHTOOL_MSG_FEATURES_SET", C.ETHTOOL_MSG_FEATURES_SET, unix.ETHTOOL_MSG_FEATURES_SET},
		Check{"ETHTOOL_A_RINGS_TCP_DATA_SPLIT", C.ETHTOOL_A_RINGS_TCP_DATA_SPLIT, unix.ETHTOOL_A_RINGS_TCP_DATA_SPLIT},
		Check{"ETHTOOL_A_RINGS_HDS_THRESH", C.ETHTOOL_A_RINGS_HDS_THRESH, unix.ETHTOOL_A_RINGS_HDS_THRESH},
		Check{"ETHTOOL_A_RINGS_HDS_THRESH_MAX", C.ETHTOOL_A_RINGS_HDS_THRESH_MAX, unix.ETHTOOL_A_RINGS_HDS_THRESH_MAX},
		Check{"IFLA_XDP_ATTACHED", C.IFLA_XDP_ATTACHED, unix.IFLA_XDP_ATTACHED},

		// struct ethtool_tcpip4_spec
		Check{"sizeof(struct ethtool_tcpip4_spec)", C.sizeof_struct_ethtool_tcpip4_spec, int64(unsafe.Sizeof(g4))},
		Check{"SizeofEthtoolTcpip4Spec", C.sizeof_struct_ethtool_tcpip4_spec, uapi.SizeofEthtoolTcpip4Spec},
		Check{"offsetof(ethtool_tcpip4_spec.ip4src)", int64(unsafe.Offsetof(c4.ip4src)), int64(unsafe.Offsetof(g4.Ip4src))},
		Check{"offsetof(ethtool_tcpip4_spec.ip4dst)", int64(unsafe.Offsetof(c4.ip4dst)), int64(unsafe.Offsetof(g4.Ip4dst))},
		Check{"offsetof(ethtool_tcpip4_spec.psrc)", int64(unsafe.Offsetof(c4.psrc)), int64(unsafe.Offsetof(g4.Psrc))},
		Check{"offsetof(ethtool_tcpip4_spec.pdst)", int64(unsafe.Offsetof(c4.pdst)), int64(unsafe.Offsetof(g4.Pdst))},
		Check{"offsetof(ethtool_tcpip4_spec.tos)", int64(unsafe.Offsetof(c4.tos)), int64(unsafe.Offsetof(g4.Tos))},
		// struct ethtool_tcpip6_spec
		Check{"sizeof(struct ethtool_tcpip6_spec)", C.sizeof_struct_ethtool_tcpip6_spec, int64(unsafe.Sizeof(g6))},
		Check{"SizeofEthtoolTcpip6Spec", C.sizeof_struct_ethtool_tcpip6_spec, uapi.SizeofEthtoolTcpip6Spec},
		Check{"offsetof(ethtool_tcpip6_spec.ip6src)", int64(unsafe.Offsetof(c6.ip6src)), int64(unsafe.Offsetof(g6.Ip6src))},
		Check{"offsetof(ethtool_tcpip6_spec.ip6dst)", int64(unsafe.Offsetof(c6.ip6dst)), int64(unsafe.Offsetof(g6.Ip6dst))},
		Check{"offsetof(ethtool_tcpip6_spec.psrc)", int64(unsafe.Offsetof(c6.psrc)), int64(unsafe.Offsetof(g6.Psrc))},
		Check{"offsetof(ethtool_tcpip6_spec.pdst)", int64(unsafe.Offsetof(c6.pdst)), int64(unsafe.Offsetof(g6.Pdst))},
		Check{"offsetof(ethtool_tcpip6_spec.tclass)", int64(unsafe.Offsetof(c6.tclass)), int64(unsafe.Offsetof(g6.Tclass))},
		// union ethtool_flow_union
		Check{"sizeof(union ethtool_flow_union)", int64(C.flow_union_size()), uapi.SizeofEthtoolFlowUnion},
		Check{"len(EthtoolRxFlowSpec.HU)", int64(C.flow_union_size()), int64(len(gf.HU))},
		Check{"offsetof(ethtool_rx_flow_spec.h_u.tcp_ip4_spec)", int64(C.off_fs_tcp_ip4_spec()), int64(unsafe.Offsetof(gf.HU))},
		Check{"offsetof(ethtool_rx_flow_spec.h_u.tcp_ip6_spec)", int64(C.off_fs_tcp_ip6_spec()), int64(unsafe.Offsetof(gf.HU))},
		Check{"offsetof(ethtool_rx_flow_spec.m_u.tcp_ip4_spec)", int64(C.off_fs_m_tcp_ip4_spec()), int64(unsafe.Offsetof(gf.MU))},
		// struct ethtool_flow_ext
		Check{"sizeof(struct ethtool_flow_ext)", C.sizeof_struct_ethtool_flow_ext, int64(unsafe.Sizeof(gx))},
		Check{"SizeofEthtoolFlowExt", C.sizeof_struct_ethtool_flow_ext, uapi.SizeofEthtoolFlowExt},
		Check{"offsetof(ethtool_flow_ext.padding)", int64(unsafe.Offsetof(cx.padding)), int64(unsafe.Offsetof(gx.Padding))},
		Check{"offsetof(ethtool_flow_ext.h_dest)", int64(unsafe.Offsetof(cx.h_dest)), int64(unsafe.Offsetof(gx.HDest))},
		Check{"offsetof(ethtool_flow_ext.vlan_etype)", int64(unsafe.Offsetof(cx.vlan_etype)), int64(unsafe.Offsetof(gx.VlanEtype))},
		Check{"offsetof(ethtool_flow_ext.vlan_tci)", int64(unsafe.Offsetof(cx.vlan_tci)), int64(unsafe.Offsetof(gx.VlanTci))},
		Check{"offsetof(ethtool_flow_ext.data)", int64(unsafe.Offsetof(cx.data)), int64(unsafe.Offsetof(gx.Data))},
		Check{"sizeof(ethtool_flow_ext.data)", int64(unsafe.Sizeof(cx.data)), int64(unsafe.Sizeof(gx.Data))},
		// struct ethtool_rx_flow_spec
		Check{"sizeof(struct ethtool_rx_flow_spec)", C.sizeof_struct_ethtool_rx_flow_spec, int64(unsafe.Sizeof(gf))},
		Check{"SizeofEthtoolRxFlowSpec", C.sizeof_struct_ethtool_rx_flow_spec, uapi.SizeofEthtoolRxFlowSpec},
		Check{"offsetof(ethtool_rx_flow_spec.flow_type)", int64(unsafe.Offsetof(cf.flow_type)), int64(unsafe.Offsetof(gf.FlowType))},
		Check{"offsetof(ethtool_rx_flow_spec.h_u)", int64(unsafe.Offsetof(cf.h_u)), int64(unsafe.Offsetof(gf.HU))},
		Check{"offsetof(ethtool_rx_flow_spec.h_ext)", int64(unsafe.Offsetof(cf.h_ext)), int64(unsafe.Offsetof(gf.HExt))},
		Check{"offsetof(ethtool_rx_flow_spec.m_u)", int64(unsafe.Offsetof(cf.m_u)), int64(unsafe.Offsetof(gf.MU))},
		Check{"offsetof(ethtool_rx_flow_spec.m_ext)", int64(unsafe.Offsetof(cf.m_ext)), int64(unsafe.Offsetof(gf.MExt))},
		Check{"offsetof(ethtool_rx_flow_spec.ring_cookie)", int64(unsafe.Offsetof(cf.ring_cookie)), int64(unsafe.Offsetof(gf.RingCookie))},
		Check{"offsetof(ethtool_rx_flow_spec.location)", int64(unsafe.Offsetof(cf.location)), int64(unsafe.Offsetof(gf.Location))},
		// struct ethtool_rxnfc
		Check{"sizeof(struct ethtool_rxnfc)", C.sizeof_struct_ethtool_rxnfc, int64(unsafe.Sizeof(gn))},
		Check{"SizeofEthtoolRxnfc", C.sizeof_struct_ethtool_rxnfc, uapi.SizeofEthtoolRxnfc},
		Check{"offsetof(ethtool_rxnfc.cmd)", int64(unsafe.Offsetof(cn.cmd)), int64(unsafe.Offsetof(gn.Cmd))},
		Check{"offsetof(ethtool_rxnfc.flow_type)", int64(unsafe.Offsetof(cn.flow_type)), int64(unsafe.Offsetof(gn.FlowType))},
		Check{"offsetof(ethtool_rxnfc.data)", int64(unsafe.Offsetof(cn.data)), int64(unsafe.Offsetof(gn.Data))},
		Check{"offsetof(ethtool_rxnfc.fs)", int64(unsafe.Offsetof(cn.fs)), int64(unsafe.Offsetof(gn.Fs))},
		Check{"offsetof(ethtool_rxnfc.rule_cnt)", int64(C.off_rxnfc_rule_cnt()), int64(unsafe.Offsetof(gn.RuleCnt))},
		Check{"offsetof(ethtool_rxnfc.rss_context)", int64(C.off_rxnfc_rss_context()), int64(unsafe.Offsetof(gn.RuleCnt))},
		Check{"offsetof(ethtool_rxnfc.rule_locs)", int64(C.off_rxnfc_rule_locs()), uapi.OffsetofEthtoolRxnfcRuleLocs},
		// struct ethtool_rxfh_indir
		Check{"sizeof(struct ethtool_rxfh_indir)", C.sizeof_struct_ethtool_rxfh_indir, int64(unsafe.Sizeof(gi))},
		Check{"SizeofEthtoolRxfhIndir", C.sizeof_struct_ethtool_rxfh_indir, uapi.SizeofEthtoolRxfhIndir},
		Check{"offsetof(ethtool_rxfh_indir.cmd)", int64(unsafe.Offsetof(ci.cmd)), int64(unsafe.Offsetof(gi.Cmd))},
		Check{"offsetof(ethtool_rxfh_indir.size)", int64(unsafe.Offsetof(ci.size)), int64(unsafe.Offsetof(gi.Size))},
		Check{"offsetof(ethtool_rxfh_indir.ring_index)", int64(C.off_rxfh_indir_ring_index()), uapi.SizeofEthtoolRxfhIndir},
		// struct ethtool_channels
		Check{"sizeof(struct ethtool_channels)", C.sizeof_struct_ethtool_channels, int64(unsafe.Sizeof(gc))},
		Check{"SizeofEthtoolChannels", C.sizeof_struct_ethtool_channels, uapi.SizeofEthtoolChannels},
		Check{"offsetof(ethtool_channels.cmd)", int64(unsafe.Offsetof(cc.cmd)), int64(unsafe.Offsetof(gc.Cmd))},
		Check{"offsetof(ethtool_channels.max_rx)", int64(unsafe.Offsetof(cc.max_rx)), int64(unsafe.Offsetof(gc.MaxRx))},
		Check{"offsetof(ethtool_channels.max_tx)", int64(unsafe.Offsetof(cc.max_tx)), int64(unsafe.Offsetof(gc.MaxTx))},
		Check{"offsetof(ethtool_channels.max_other)", int64(unsafe.Offsetof(cc.max_other)), int64(unsafe.Offsetof(gc.MaxOther))},
		Check{"offsetof(ethtool_channels.max_combined)", int64(unsafe.Offsetof(cc.max_combined)), int64(unsafe.Offsetof(gc.MaxCombined))},
		Check{"offsetof(ethtool_channels.rx_count)", int64(unsafe.Offsetof(cc.rx_count)), int64(unsafe.Offsetof(gc.RxCount))},
		Check{"offsetof(ethtool_channels.tx_count)", int64(unsafe.Offsetof(cc.tx_count)), int64(unsafe.Offsetof(gc.TxCount))},
		Check{"offsetof(ethtool_channels.other_count)", int64(unsafe.Offsetof(cc.other_count)), int64(unsafe.Offsetof(gc.OtherCount))},
		Check{"offsetof(ethtool_channels.combined_count)", int64(unsafe.Offsetof(cc.combined_count)), int64(unsafe.Offsetof(gc.CombinedCount))},
		// struct ifreq (ifr_data member)
		Check{"sizeof(struct ifreq)", C.sizeof_struct_ifreq, int64(unsafe.Sizeof(gr))},
		Check{"SizeofIfreq", C.sizeof_struct_ifreq, uapi.SizeofIfreq},
		Check{"offsetof(ifreq.ifr_name)", int64(C.off_ifreq_name()), off(unsafe.Pointer(&gr.Name), unsafe.Pointer(&gr))},
		Check{"offsetof(ifreq.ifr_data)", int64(C.off_ifreq_data()), int64(unsafe.Offsetof(gr.Data))},
	)
}
