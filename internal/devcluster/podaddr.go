package devcluster

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// PodAddress picks a pod's address in cidr: the host part starts at a hash
// of key (the pod's namespace/name) and moves on past addresses used says
// are taken. The network address, the first host (the node's gateway on
// its bridge) and the last address (broadcast, in IPv4) are never given.
// It reports false when every address is taken.
func PodAddress(cidr netip.Prefix, key string, used func(netip.Addr) bool) (netip.Addr, bool) {
	hostBits := cidr.Addr().BitLen() - cidr.Bits()
	if hostBits < 3 {
		return netip.Addr{}, false
	}
	// At most 2^16 candidates: a node's pod CIDR is a /24 in practice.
	size := uint64(1) << min(hostBits, 16)
	usable := size - 3 // offsets 2 .. size-2
	sum := sha256.Sum256([]byte(key))
	start := binary.BigEndian.Uint64(sum[:8]) % usable
	for i := range usable {
		ip := addOffset(cidr.Addr(), 2+(start+i)%usable)
		if used == nil || !used(ip) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// addOffset adds off to the low bytes of a.
func addOffset(a netip.Addr, off uint64) netip.Addr {
	b := a.AsSlice()
	for i := len(b) - 1; i >= 0 && off > 0; i-- {
		v := uint64(b[i]) + off&0xff
		b[i] = byte(v)
		off = off>>8 + v>>8
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

// imageID and containerID are stable fake runtime ids.
func imageID(image string) string {
	sum := sha256.Sum256([]byte(image))
	return image + "@sha256:" + hex.EncodeToString(sum[:])
}

func containerID(p *corev1.Pod, container string) string {
	sum := sha256.Sum256([]byte(string(p.UID) + "/" + container))
	return "containerd://" + hex.EncodeToString(sum[:])
}
