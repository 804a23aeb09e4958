#!/usr/bin/env python3
"""Reference frames for the packet decoder tests, built and dissected by scapy.

Prints one JSON object on stdout: scapy's version, the link types this oracle dissects (the ones the
decoder claims to support) and the cases. Each case carries the frame bytes (hex), its link type and what an
independent reader (scapy's own dissectors) finds in it: the outermost IP header's addresses, the
transport protocol after IPv6 extension headers, ports (ICMP: type << 8 | code), TCP flags, whether the
packet is a non-first fragment, plus the byte offsets the truncation sweep needs.

The expectations come from dissecting the *bytes* with scapy, never from the values the frames were
built with, so a frame built wrongly still gets a correct expectation. Where scapy has no dissector for
a header (NULL in big-endian order, LOOP, Cisco HDLC, MACsec, NSH with MD type 2, Arista timestamps,
the payload after AH) this script reads that header by its published definition and hands the rest to
scapy; 0x9100/0x9200 outer tags and MPLS multicast (also over PPP) are bound to scapy's own 802.1Q and
MPLS dissectors.

Run by test/helpers/scapy-frames.ts; takes no arguments.
"""

import json
import logging
import socket
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.all import (  # noqa: E402
    ARP,
    ICMP,
    IP,
    LLC,
    SNAP,
    STP,
    TCP,
    UDP,
    CookedLinux,
    CookedLinuxV2,
    Dot1AD,
    Dot1Q,
    Dot3,
    Dot11,
    Ether,
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    ICMPv6TimeExceeded,
    IPOption_RR,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    IPv46,
    NoPayload,
    PPPoE,
    Raw,
    bind_layers,
    conf,
)
from scapy.contrib.macsec import MACsec  # noqa: E402
from scapy.contrib.mpls import MPLS  # noqa: E402
from scapy.contrib.nsh import NSH  # noqa: E402
from scapy.layers.ipsec import AH  # noqa: E402
from scapy.layers.ppp import HDLC, PPP  # noqa: E402
from scapy.layers.sctp import SCTP  # noqa: E402

# Pre-standard QinQ outer tags: scapy does not know them; they have the 802.1Q layout.
bind_layers(Ether, Dot1Q, type=0x9100)
bind_layers(Ether, Dot1Q, type=0x9200)
# MPLS multicast carries the same label stack as unicast; PPP carries MPLS as protocol 0x0281/0x0283.
bind_layers(Ether, MPLS, type=0x8848)
bind_layers(PPP, MPLS, proto=0x0281)
bind_layers(PPP, MPLS, proto=0x0283)

SUPPORTED_LINK_TYPES = {0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276}
IPV6_AF_VALUES = {24, 28, 30}
AF_INET = 2

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"
V4_A = "198.18.0.1"
V4_B = "198.19.255.254"
V6_A = "2001:db8::1"
V6_B = "2001:db8:ffff:1::abcd"


def words_of(layer):
    """Source and destination as four 32-bit words in network order (IPv4 in word 0)."""
    if isinstance(layer, IPv6):
        src = list(struct.unpack("!4I", socket.inet_pton(socket.AF_INET6, layer.src)))
        dst = list(struct.unpack("!4I", socket.inet_pton(socket.AF_INET6, layer.dst)))
        return src, dst
    src = [struct.unpack("!I", socket.inet_aton(layer.src))[0], 0, 0, 0]
    dst = [struct.unpack("!I", socket.inet_aton(layer.dst))[0], 0, 0, 0]
    return src, dst


def offset_of(frame, layer):
    """Byte offset of a dissected layer within the frame."""
    return len(frame) - len(layer.original)


IPV6_EXTENSIONS = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, AH)
TRANSPORT_BY_PROTOCOL = {6: TCP, 17: UDP, 132: SCTP, 1: ICMP}


def outermost_ip(pkt):
    layer = pkt
    while layer is not None and not isinstance(layer, NoPayload):
        if isinstance(layer, (IP, IPv6)):
            return layer
        layer = layer.payload
    return None


ETHERTYPE_MACSEC = 0x88E5
ETHERTYPE_NSH = 0x894F
ETHERTYPE_ARISTA = 0xD28B


def dissect_ethertype(ethertype, data):
    """The payload of an EtherType, dissected by scapy's Ethernet layer behind a synthetic MAC header."""
    return outermost_ip(Ether(b"\0" * 12 + struct.pack("!H", ethertype) + data))


def dissect_ethernet(frame):
    """scapy's Ether, except for three shims scapy cannot see through, read here by their definitions."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    rest = frame[14:]
    if ethertype == ETHERTYPE_MACSEC:
        # IEEE 802.1AE SecTAG: TCI/AN, SL, PN (4), SCI (8) when TCI.SC; E or C set = payload unreadable.
        tci = rest[0]
        if tci & 0x0C:
            return None
        tag = 14 if tci & 0x20 else 6
        return dissect_ethertype(struct.unpack("!H", rest[tag : tag + 2])[0], rest[tag + 2 :])
    if ethertype == ETHERTYPE_NSH:
        # RFC 8300: length in 4-byte words (6 bits), next protocol 1 IPv4, 2 IPv6, 3 Ethernet.
        length = (rest[1] & 0x3F) * 4
        next_protocol = rest[3]
        inner = rest[length:]
        if next_protocol == 1:
            return IP(inner)
        if next_protocol == 2:
            return IPv6(inner)
        if next_protocol == 3:
            return outermost_ip(Ether(inner))
        return None
    if ethertype == ETHERTYPE_ARISTA:
        # Arista timestamp: subtype 1, version 0x0010/0x0110 (8-byte time) or 0x0020/0x0120 (6-byte).
        subtype, version = struct.unpack("!HH", rest[:4])
        width = {0x0010: 8, 0x0020: 6}.get(version & ~0x0100)
        if subtype != 1 or width is None:
            return None
        at = 4 + width
        return dissect_ethertype(struct.unpack("!H", rest[at : at + 2])[0], rest[at + 2 :])
    return outermost_ip(Ether(frame))


def dissect_ppp(frame):
    """RFC 1662 framing: an optional ff 03 address/control, then a 1 or 2-byte protocol (scapy's PPP)."""
    if frame[:2] == b"\xff\x03":
        return outermost_ip(HDLC(frame))
    return outermost_ip(PPP(frame))


def dissect(link_type, frame):
    """The outermost IP layer according to scapy, or None when the frame carries no IP."""
    if link_type == 1:
        return dissect_ethernet(frame)
    if link_type in (9, 50):
        return dissect_ppp(frame)
    if link_type == 104:
        # Cisco HDLC: address, control, then an EtherType.
        return dissect_ethertype(struct.unpack("!H", frame[2:4])[0], frame[4:])
    if link_type == 113:
        return outermost_ip(CookedLinux(frame))
    if link_type == 276:
        return outermost_ip(CookedLinuxV2(frame))
    if link_type in (12, 14, 101):
        return outermost_ip(IPv46(frame))
    if link_type == 228:
        return IP(frame)
    if link_type == 229:
        return IPv6(frame)
    if link_type in (0, 108):
        # NULL: the family in the capturing host's byte order (a value above 0xffff is the other order);
        # LOOP: always network order. scapy's Loopback reads little-endian only.
        af = struct.unpack("<I", frame[:4])[0]
        if link_type == 108 or af > 0xFFFF:
            af = struct.unpack(">I", frame[:4])[0]
        if af == AF_INET:
            return IP(frame[4:])
        if af in IPV6_AF_VALUES:
            return IPv6(frame[4:])
        return None
    raise ValueError(f"no dissector for link type {link_type}")


def expectation(link_type, frame):
    """What a correct decoder reports for the frame, and where its layers start."""
    empty = {"ipVersion": 0, "protocol": 0, "src": [0] * 4, "dst": [0] * 4, "srcPort": 0, "dstPort": 0}
    empty.update({"tcpFlags": 0, "nonFirstFragment": False})
    if link_type not in SUPPORTED_LINK_TYPES:
        return dict(empty, outcome="unsupported-link-type"), None
    ip = dissect(link_type, frame)
    if ip is None:
        return dict(empty, outcome="not-ip"), None
    # Every dissected layer's bytes are a tail of the frame, so offsets follow from lengths.
    if isinstance(ip, IPv6):
        if ip.version != 6:
            return dict(empty, outcome="bad-header"), None
    elif ip.version != 4 or ip.ihl < 5 or (ip.len != 0 and ip.len < ip.ihl * 4):
        return dict(empty, outcome="bad-header"), None
    src, dst = words_of(ip)
    ip_offset = offset_of(frame, ip)
    fields = dict(empty, outcome="decoded", ipVersion=6 if isinstance(ip, IPv6) else 4, src=src, dst=dst)
    layout = {
        "ipOffset": ip_offset,
        "addressesEnd": ip_offset + (40 if isinstance(ip, IPv6) else 20),
        "transportOffset": None,
        "portsEnd": None,
        "flagsEnd": None,
        "chain": [],
    }
    if isinstance(ip, IPv6):
        protocol = ip.nh
        layer = ip.payload
        layout["chain"].append(protocol)
        while isinstance(layer, IPV6_EXTENSIONS):
            protocol = layer.nh
            layout["chain"].append(protocol)
            if isinstance(layer, IPv6ExtHdrFragment) and layer.offset != 0:
                fields["nonFirstFragment"] = True
                break
            if isinstance(layer, AH) and isinstance(layer.payload, Raw) and protocol in TRANSPORT_BY_PROTOCOL:
                # scapy leaves what follows AH undissected: read it as the protocol AH names.
                after = layer.payload
                layer = TRANSPORT_BY_PROTOCOL[protocol](after.load)
                layer.original = after.original
                break
            layer = layer.payload
        fields["protocol"] = protocol
    else:
        fields["protocol"] = ip.proto
        layer = ip.payload
        if ip.frag != 0:
            fields["nonFirstFragment"] = True
    if fields["nonFirstFragment"]:
        return fields, layout
    transport_offset = offset_of(frame, layer) if not isinstance(layer, NoPayload) else None
    layout["transportOffset"] = transport_offset
    if isinstance(layer, (TCP, UDP, SCTP)) and fields["protocol"] in (6, 17, 132):
        fields["srcPort"] = layer.sport
        fields["dstPort"] = layer.dport
        layout["portsEnd"] = transport_offset + 4
        if isinstance(layer, TCP):
            fields["tcpFlags"] = int(layer.flags) & 0xFF
            layout["flagsEnd"] = transport_offset + 14
    elif (isinstance(layer, ICMP) and fields["protocol"] == 1) or (
        type(layer).__name__.startswith("ICMPv6") and fields["protocol"] == 58
    ):
        fields["dstPort"] = (layer.type << 8) | layer.code
        layout["portsEnd"] = transport_offset + 2
    return fields, layout


def eth(type_=None):
    return Ether(src=MAC_A, dst=MAC_B) if type_ is None else Ether(src=MAC_A, dst=MAC_B, type=type_)


def ip4(**kw):
    return IP(src=kw.pop("src", V4_A), dst=kw.pop("dst", V4_B), **kw)


def ip6(**kw):
    return IPv6(src=kw.pop("src", V6_A), dst=kw.pop("dst", V6_B), **kw)


def arp():
    # Every field explicit: scapy's defaults come from this machine's interfaces and routes.
    return ARP(op=1, hwsrc=MAC_A, psrc=V4_A, hwdst="00:00:00:00:00:00", pdst=V4_B)


def null_header(af, big_endian):
    return struct.pack(">I" if big_endian else "<I", af)


def ppp(proto):
    """A PPP protocol field as PPPoE carries it: two bytes (scapy would compress 0x0021 to one byte)."""
    return Raw(struct.pack("!H", proto))


def sll2(proto):
    return CookedLinuxV2(proto=proto, ifindex=3, lladdrtype=1, pkttype=0, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0")


def build_cases():
    """(name, link type, frame bytes, sweep every truncation point?)"""
    cases = []

    def add(name, link_type, pkt, sweep=False):
        cases.append((name, link_type, bytes(pkt), sweep))

    tcp_sa = TCP(sport=40000, dport=443, flags="SA")
    # Ethernet, plain IPv4 and IPv6 with each transport.
    add("Ethernet IPv4 TCP SYN+ACK", 1, eth() / ip4() / tcp_sa, sweep=True)
    add("Ethernet IPv4 TCP with all eight flags", 1, eth() / ip4() / TCP(sport=1, dport=65535, flags=0xFF))
    add("Ethernet IPv4 UDP", 1, eth() / ip4() / UDP(sport=53, dport=33333) / b"dns")
    add("Ethernet IPv4 SCTP", 1, eth() / ip4() / SCTP(sport=2905, dport=36412))
    add("Ethernet IPv4 ICMP echo request", 1, eth() / ip4() / ICMP(type=8, code=0), sweep=True)
    add(
        "Ethernet IPv4 ICMP port unreachable quoting a UDP header",
        1,
        eth() / ip4() / ICMP(type=3, code=3) / ip4(src=V4_B, dst=V4_A) / UDP(sport=5000, dport=53),
    )
    add("Ethernet IPv4 ICMP type 3 code 13", 1, eth() / ip4() / ICMP(type=3, code=13))
    add("Ethernet IPv4 GRE (no ports)", 1, eth() / ip4(proto=47) / Raw(b"\0\0\x08\0" + b"x" * 20))
    add(
        "Ethernet IPv4 with a record-route option and TCP",
        1,
        eth() / ip4(options=[IPOption_RR(routers=["198.18.1.1", "198.18.1.2"])]) / TCP(sport=22, dport=50000),
        sweep=True,
    )
    add(
        "Ethernet IPv4 with 40 bytes of options (IHL 15) and UDP",
        1,
        eth() / ip4(options=[IPOption_RR(routers=["198.18.2.%d" % i for i in range(9)])]) / UDP(sport=7, dport=8),
    )
    add("Ethernet IPv4 first fragment (MF, offset 0)", 1, eth() / ip4(flags="MF", frag=0) / UDP(sport=4500, dport=4501) / (b"y" * 64))
    add(
        "Ethernet IPv4 non-first fragment (MF, offset 185)",
        1,
        eth() / ip4(flags="MF", frag=185, proto=17) / Raw(b"\x11\x94\x11\x95" + b"y" * 60),
    )
    add("Ethernet IPv4 last fragment (offset 300)", 1, eth() / ip4(frag=300, proto=6) / Raw(b"\x01\xbb\x9c\x40" + b"z" * 40))
    add("Ethernet IPv4 total length 0 (segmentation offload)", 1, eth() / ip4(len=0) / TCP(sport=80, dport=40001, flags="A"))
    add("Ethernet IPv4 UDP padded to 60 bytes", 1, bytes(eth() / ip4() / UDP(sport=123, dport=123)) + b"\0" * 18)
    add("Ethernet IPv6 TCP", 1, eth() / ip6() / TCP(sport=443, dport=51000, flags="PA"))
    add("Ethernet IPv6 UDP", 1, eth() / ip6() / UDP(sport=547, dport=546), sweep=True)
    add("Ethernet IPv6 SCTP", 1, eth() / ip6() / SCTP(sport=3868, dport=3868))
    add("Ethernet ICMPv6 echo request", 1, eth() / ip6() / ICMPv6EchoRequest(id=7, seq=1))
    add("Ethernet ICMPv6 neighbour solicitation", 1, eth() / ip6(hlim=255) / ICMPv6ND_NS(tgt=V6_B))
    add("Ethernet ICMPv6 port unreachable (1/4)", 1, eth() / ip6() / ICMPv6DestUnreach(code=4))
    add("Ethernet ICMPv6 time exceeded in reassembly (3/1)", 1, eth() / ip6() / ICMPv6TimeExceeded(code=1))
    add(
        "Ethernet IPv6 hop-by-hop, routing, destination options, first fragment, AH, TCP",
        1,
        eth()
        / ip6()
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrRouting(addresses=["2001:db8::99"])
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrFragment(offset=0, m=1, id=77)
        / AH(nh=6, payloadlen=4, spi=0x100, icv=b"\x5a" * 12)
        / TCP(sport=179, dport=40002, flags="S"),
        sweep=True,
    )
    add(
        "Ethernet IPv6 hop-by-hop then non-first fragment of UDP",
        1,
        eth() / ip6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(offset=100, m=1, nh=17) / Raw(b"\x13\x88\x13\x89" + b"q" * 32),
    )
    add(
        "Ethernet IPv6 last fragment of TCP",
        1,
        eth() / ip6() / IPv6ExtHdrFragment(offset=181, m=0, nh=6) / Raw(b"\x00\x50\xc3\x50" + b"q" * 40),
    )
    add("Ethernet IPv6 AH then UDP", 1, eth() / ip6() / AH(nh=17, payloadlen=4, spi=9, icv=b"\1" * 12) / UDP(sport=500, dport=4500))
    add("Ethernet IPv6 destination options then ESP", 1, eth() / ip6() / IPv6ExtHdrDestOpt(nh=50) / Raw(b"\0\0\0\x09" + b"e" * 24))
    add("Ethernet IPv6 no next header (59)", 1, eth() / ip6(nh=59) / Raw(b"junk"))
    # VLAN tags.
    add("802.1Q IPv4 TCP", 1, eth() / Dot1Q(vlan=100, prio=5) / ip4() / TCP(sport=3306, dport=40100, flags="A"))
    add("802.1Q IPv6 UDP", 1, eth() / Dot1Q(vlan=4094) / ip6() / UDP(sport=4789, dport=4789), sweep=True)
    add("802.1ad + 802.1Q (QinQ) IPv4 UDP", 1, eth() / Dot1AD(vlan=10) / Dot1Q(vlan=20) / ip4() / UDP(sport=1, dport=2))
    add(
        "802.1ad + 802.1Q (QinQ) IPv6 TCP",
        1,
        eth() / Dot1AD(vlan=11) / Dot1Q(vlan=21) / ip6() / TCP(sport=8080, dport=40200, flags="F"),
        sweep=True,
    )
    add("0x9100 outer tag + 802.1Q IPv4 ICMP", 1, eth(0x9100) / Dot1Q(vlan=30) / Dot1Q(vlan=3) / ip4() / ICMP(type=11, code=1))
    add("single 0x9100 tag IPv6 UDP", 1, eth(0x9100) / Dot1Q(vlan=31) / ip6() / UDP(sport=9, dport=10))
    add("0x9200 outer tag + 802.1Q IPv4 UDP", 1, eth(0x9200) / Dot1Q(vlan=32) / Dot1Q(vlan=4) / ip4() / UDP(sport=9, dport=10))
    add("802.1Q + 802.1Q IPv4 UDP", 1, eth() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / ip4() / UDP(sport=11, dport=12))
    add("802.1Q ARP (not IP)", 1, eth() / Dot1Q(vlan=5) / arp())
    # MPLS, PPPoE, 802.2 LLC/SNAP.
    add("MPLS one label IPv4 UDP", 1, eth(0x8847) / MPLS(label=16, s=1, ttl=64) / ip4() / UDP(sport=1234, dport=5678), sweep=True)
    add(
        "MPLS two labels IPv6 TCP",
        1,
        eth(0x8847) / MPLS(label=17, s=0) / MPLS(label=18, s=1) / ip6() / TCP(sport=5060, dport=5061, flags="R"),
    )
    add("MPLS multicast (0x8848) IPv4 UDP", 1, eth(0x8848) / MPLS(label=19, s=1) / ip4() / UDP(sport=5, dport=6))
    add("802.1Q then MPLS IPv4 TCP", 1, eth() / Dot1Q(vlan=7) / MPLS(label=20, s=1) / ip4() / TCP(sport=1, dport=2))
    add("PPPoE session IPv4 UDP", 1, eth() / PPPoE(sessionid=0x1234) / ppp(0x0021) / ip4() / UDP(sport=67, dport=68), sweep=True)
    add("PPPoE session IPv6 TCP", 1, eth() / PPPoE(sessionid=1) / ppp(0x0057) / ip6() / TCP(sport=25, dport=40300, flags="SA"))
    add("PPPoE session LCP (not IP)", 1, eth() / PPPoE(sessionid=1) / ppp(0xC021) / Raw(b"\x01\x01\x00\x04"))
    add(
        "802.3 LLC/SNAP IPv4 UDP",
        1,
        Dot3(src=MAC_A, dst=MAC_B) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x0800) / ip4() / UDP(sport=161, dport=162),
        sweep=True,
    )
    add(
        "802.3 LLC/SNAP IPv6 TCP",
        1,
        Dot3(src=MAC_A, dst=MAC_B) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=0x86DD) / ip6() / TCP(sport=1, dport=2),
    )
    add("802.3 LLC spanning tree (not IP)", 1, Dot3(src=MAC_A, dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP())
    add("Ethernet ARP (not IP)", 1, eth() / arp())
    add("Ethernet LLDP (not IP)", 1, eth(0x88CC) / Raw(b"\x02\x07\x04" + b"\0" * 6 + b"\0\0"))
    # Linux cooked captures.
    add("LINUX_SLL IPv4 TCP", 113, CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\0\x01", proto=0x0800) / ip4() / TCP(sport=1, dport=80, flags="S"))
    add("LINUX_SLL IPv6 UDP", 113, CookedLinux(pkttype=4, lladdrtype=1, lladdrlen=6, proto=0x86DD) / ip6() / UDP(sport=5353, dport=5353), sweep=True)
    add("LINUX_SLL 802.1Q IPv4 UDP", 113, CookedLinux(proto=0x8100) / Dot1Q(vlan=9) / ip4() / UDP(sport=3, dport=4))
    add("LINUX_SLL ARP (not IP)", 113, CookedLinux(proto=0x0806) / arp())
    add("LINUX_SLL2 IPv4 TCP", 276, sll2(0x0800) / ip4() / TCP(sport=40400, dport=22, flags="PA"), sweep=True)
    add("LINUX_SLL2 ICMPv6 echo", 276, sll2(0x86DD) / ip6() / ICMPv6EchoRequest())
    add("LINUX_SLL2 ARP (not IP)", 276, sll2(0x0806) / arp())
    # Raw IP link types.
    for link_type in (101, 12, 14):
        add(f"RAW ({link_type}) IPv4 UDP", link_type, ip4() / UDP(sport=514, dport=514))
        add(f"RAW ({link_type}) IPv6 TCP", link_type, ip6() / TCP(sport=443, dport=40500, flags="FA"), sweep=link_type == 101)
        add(f"RAW ({link_type}) version 5 (bad header)", link_type, b"\x55" + bytes(ip4() / UDP())[1:])
    add("IPV4 (228) TCP", 228, ip4() / TCP(sport=1, dport=2, flags="U"), sweep=True)
    add("IPV4 (228) carrying an IPv6 packet (version mismatch)", 228, ip6() / UDP())
    add("IPV6 (229) UDP", 229, ip6() / UDP(sport=3, dport=4), sweep=True)
    add("IPV6 (229) carrying an IPv4 packet (version mismatch)", 229, ip4() / UDP() / (b"p" * 30))
    # BSD loopback headers.
    for big_endian in (False, True):
        order = "big-endian" if big_endian else "little-endian"
        add(f"NULL {order} AF 2 IPv4 TCP", 0, null_header(2, big_endian) + bytes(ip4() / TCP(sport=1, dport=2)), sweep=big_endian)
        for af in sorted(IPV6_AF_VALUES):
            add(f"NULL {order} AF {af} IPv6 UDP", 0, null_header(af, big_endian) + bytes(ip6() / UDP(sport=af, dport=af + 1)))
        add(f"NULL {order} AF 7 (not IP)", 0, null_header(7, big_endian) + b"\0" * 40)
    add("LOOP AF 2 IPv4 UDP", 108, null_header(2, True) + bytes(ip4() / UDP(sport=5, dport=6)), sweep=True)
    for af in sorted(IPV6_AF_VALUES):
        add(f"LOOP AF {af} IPv6 TCP", 108, null_header(af, True) + bytes(ip6() / TCP(sport=af, dport=1, flags="S")))
    # PPP and HDLC link types.
    add("PPP (9) with ff 03 framing IPv4 UDP", 9, HDLC() / ppp(0x0021) / ip4() / UDP(sport=1701, dport=1701), sweep=True)
    add("PPP (9) without address/control IPv6 TCP", 9, ppp(0x0057) / ip6() / TCP(sport=179, dport=40600, flags="S"))
    add("PPP (9) compressed one-byte protocol IPv4 ICMP", 9, Raw(b"\x21") / ip4() / ICMP(type=8, code=0))
    add("PPP (9) MPLS unicast IPv4 UDP", 9, HDLC() / ppp(0x0281) / MPLS(label=99, s=1) / ip4() / UDP(sport=3, dport=4))
    add("PPP (9) LCP (not IP)", 9, HDLC() / ppp(0xC021) / Raw(b"\x01\x01\x00\x04"))
    add("PPP_HDLC (50) IPv6 UDP", 50, HDLC() / ppp(0x0057) / ip6() / UDP(sport=500, dport=500))
    add("Cisco HDLC (104) IPv4 TCP", 104, Raw(b"\x0f\x00\x08\x00") / ip4() / TCP(sport=646, dport=40700, flags="PA"), sweep=True)
    add("Cisco HDLC (104) IPv6 UDP", 104, Raw(b"\x8f\x00\x86\xdd") / ip6() / UDP(sport=1, dport=2))
    add("Cisco HDLC (104) SLARP (not IP)", 104, Raw(b"\x8f\x00\x80\x35") / Raw(b"\0" * 20))
    # Shims between Ethernet and IP.
    add(
        "MACsec integrity-only with SCI IPv4 UDP",
        1,
        eth(0x88E5) / MACsec(SC=1, E=0, C=0, PN=7, SCI=b"\x02\0\0\0\0\x01\0\x01", type=0x0800) / ip4() / UDP(sport=7, dport=8),
        sweep=True,
    )
    add("MACsec integrity-only without SCI IPv6 TCP", 1, eth(0x88E5) / MACsec(SC=0, E=0, C=0, PN=8, type=0x86DD) / ip6() / TCP(sport=1, dport=2))
    add("MACsec encrypted (not readable)", 1, eth(0x88E5) / MACsec(SC=0, E=1, C=1, PN=9) / Raw(b"\x5a" * 48))
    add("NSH MD type 1 IPv6 TCP", 1, eth(0x894F) / NSH(mdtype=1, nextproto=2, spi=5, si=255) / ip6() / TCP(sport=5, dport=6), sweep=True)
    add("NSH MD type 2 IPv4 UDP", 1, eth(0x894F) / Raw(b"\x0f\xc2\x02\x01\x00\x00\x05\xff") / ip4() / UDP(sport=9, dport=10))
    add(
        "NSH carrying Ethernet IPv4 UDP",
        1,
        eth(0x894F) / Raw(b"\x0f\xc2\x02\x03\x00\x00\x05\xff") / eth() / ip4(src=V4_B, dst=V4_A) / UDP(sport=11, dport=12),
    )
    add(
        "Arista 64-bit timestamp IPv4 TCP",
        1,
        eth(0xD28B) / Raw(b"\x00\x01\x00\x10" + b"\x65\x00\x00\x01\x00\x00\x00\x02" + b"\x08\x00") / ip4() / TCP(sport=1, dport=2),
        sweep=True,
    )
    add(
        "Arista 48-bit UTC timestamp IPv6 UDP",
        1,
        eth(0xD28B) / Raw(b"\x00\x01\x01\x20" + b"\x00\x01\x00\x00\x00\x02" + b"\x86\xdd") / ip6() / UDP(sport=3, dport=4),
    )
    # Headers that cannot be right.
    add("Ethernet IPv4 IHL 4 (bad header)", 1, eth() / ip4(ihl=4) / UDP())
    add("Ethernet IPv4 IHL 0 (bad header)", 1, eth() / ip4(ihl=0) / (b"\0" * 40))
    add("Ethernet IPv4 total length below the header (bad header)", 1, eth() / ip4(len=12) / UDP())
    add("Ethernet type IPv4 carrying IPv6 (version mismatch)", 1, eth(0x0800) / ip6() / UDP())
    add("Ethernet type IPv6 carrying IPv4 (version mismatch)", 1, eth(0x86DD) / ip4() / UDP() / (b"p" * 30))
    # Link types the decoder does not handle.
    add("802.11 (105) data frame", 105, Dot11(type=2, addr1=MAC_B, addr2=MAC_A, addr3=MAC_B) / LLC() / SNAP() / ip4() / UDP())
    add("Frame Relay (107) frame", 107, b"\x18\x41\x03\xcc" + bytes(ip4() / UDP()))
    add("radiotap (127) frame", 127, b"\0\0\x08\0\0\0\0\0" + bytes(Dot11()))
    return cases


def main():
    out = []
    for name, link_type, frame, sweep in build_cases():
        expected, layout = expectation(link_type, frame)
        out.append(
            {
                "name": name,
                "linkType": link_type,
                "hex": frame.hex(),
                "expected": expected,
                "layout": layout,
                "sweep": sweep,
            }
        )
    json.dump(
        {"scapyVersion": conf.version, "supportedLinkTypes": sorted(SUPPORTED_LINK_TYPES), "cases": out},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
