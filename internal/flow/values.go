package flow

import (
	"net/netip"
	"time"
)

// parseAddr parses an IPv4 or IPv6 address; IPv4-mapped IPv6 addresses
// become IPv4 and zones are dropped. IPv4 takes a fast path that
// allocates nothing.
func parseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	for _, c := range b {
		if c == ':' {
			a, err := netip.ParseAddr(string(b))
			if err != nil {
				return netip.Addr{}, false
			}
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// parseIPv4 accepts dotted decimal exactly as netip.ParseAddr does (no
// leading zeros, four fields).
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	field, val, digits := 0, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || field == 3 {
				return netip.Addr{}, false
			}
			ip[field] = byte(val)
			field++
			val, digits = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}

// timeCache remembers the last date-and-time-to-the-second, which most
// consecutive records share.
type timeCache struct {
	prefix [19]byte
	secs   int64
	ok     bool
}

// parseTime parses RFC 3339 ("2026-11-26T10:00:00.123456789Z",
// "...+01:00"), returning UTC. It allocates nothing on the common
// protojson shape and falls back to time.Parse for the rest.
func (c *timeCache) parseTime(b []byte) (time.Time, bool) {
	if t, ok := c.fast(b); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func (c *timeCache) fast(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	var secs int64
	if c.ok && string(b[:19]) == string(c.prefix[:]) {
		secs = c.secs
	} else {
		year, ok1 := digits(b[0:4])
		month, ok2 := digits(b[5:7])
		day, ok3 := digits(b[8:10])
		hour, ok4 := digits(b[11:13])
		minute, ok5 := digits(b[14:16])
		sec, ok6 := digits(b[17:19])
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
			day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
			return time.Time{}, false
		}
		secs = daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
		copy(c.prefix[:], b[:19])
		c.secs, c.ok = secs, true
	}
	i := 19
	var nanos int64
	if b[i] == '.' {
		i++
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if n == 9 {
				return time.Time{}, false // more than nanoseconds: let time.Parse judge
			}
			nanos = nanos*10 + int64(b[i]-'0')
			n++
			i++
		}
		if n == 0 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	switch rest := b[i:]; {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		off := int64(oh*3600 + om*60)
		if rest[0] == '+' {
			off = -off
		}
		secs += off
	default:
		return time.Time{}, false
	}
	return time.Unix(secs, nanos).UTC(), true
}

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil counts days from 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseUint reads an unsigned decimal integer (digits only).
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
