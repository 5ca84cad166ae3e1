package flow

// Typed reads over a jsonReader for the decoders. A value of the wrong JSON
// type is not a syntax error: it is recorded as the line's first
// FieldError (d.ferr) and skipped, so that the rest of the line is still
// checked for syntax. null reads as "absent" everywhere, as in protojson.

func (d *Decoder) typeErr(r *jsonReader, field, want string) {
	d.nerr++
	if d.ferr == nil && r.err == nil {
		d.ferr = fieldErr(field, "expected %s, found %s", want, jsonKind(r.peek()))
	}
	r.skip()
}

func jsonKind(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func (d *Decoder) setErr(err *FieldError) {
	d.nerr++
	if d.ferr == nil {
		d.ferr = err
	}
}

// objectOf opens an object; false for null or another type.
func (d *Decoder) objectOf(r *jsonReader, field string) bool {
	switch r.peek() {
	case '{':
		return r.openObject()
	case 'n':
		r.skip()
		return false
	}
	d.typeErr(r, field, "an object")
	return false
}

// arrayOf opens an array; false for null or another type.
func (d *Decoder) arrayOf(r *jsonReader, field string) bool {
	switch r.peek() {
	case '[':
		return r.openArray()
	case 'n':
		r.skip()
		return false
	}
	d.typeErr(r, field, "an array")
	return false
}

// stringOf reads a string (raw body, escaped); ok is false for null or
// another type.
func (d *Decoder) stringOf(r *jsonReader, field string) (raw []byte, escaped, ok bool) {
	switch r.peek() {
	case '"':
		raw, escaped = r.str()
		return raw, escaped, r.err == nil
	case 'n':
		r.skip()
		return nil, false, false
	}
	d.typeErr(r, field, "a string")
	return nil, false, false
}

// textOf reads a string value with escapes decoded (into scratch).
func (d *Decoder) textOf(r *jsonReader, field string) ([]byte, bool) {
	raw, esc, ok := d.stringOf(r, field)
	if !ok {
		return nil, false
	}
	return d.text(raw, esc), true
}

// uintOf reads a non-negative integer written as a number or, as protojson
// allows, as a string of digits.
func (d *Decoder) uintOf(r *jsonReader, field string) (uint64, bool) {
	var b []byte
	switch c := r.peek(); {
	case c == '"':
		raw, esc := r.str()
		if r.err != nil {
			return 0, false
		}
		b = d.text(raw, esc)
	case c == '-' || '0' <= c && c <= '9':
		b = r.number()
		if r.err != nil {
			return 0, false
		}
	case c == 'n':
		r.skip()
		return 0, false
	default:
		d.typeErr(r, field, "a number")
		return 0, false
	}
	v, ok := parseUint(b)
	if !ok {
		d.setErr(fieldErr(field, "%q is not a non-negative integer", b))
		return 0, false
	}
	return v, true
}

// boolOf reads true/false; set is false for null. Other types are errors.
func (d *Decoder) boolOf(r *jsonReader, field string) (v, set bool) {
	switch r.peek() {
	case 't', 'f', 'n':
		return r.boolean()
	}
	d.typeErr(r, field, "a boolean")
	return false, false
}

// enumOf reads a protojson enum: its name as a string, or its number.
// name is nil when a number was written.
func (d *Decoder) enumOf(r *jsonReader, field string) (name []byte, num uint64, ok bool) {
	switch c := r.peek(); {
	case c == '"':
		raw, esc := r.str()
		if r.err != nil {
			return nil, 0, false
		}
		return d.text(raw, esc), 0, true
	case c == '-' || '0' <= c && c <= '9':
		b := r.number()
		if r.err != nil {
			return nil, 0, false
		}
		n, ok := parseUint(b)
		if !ok {
			// Negative or fractional enum numbers: unknown value.
			return nil, 1 << 32, true
		}
		return nil, n, true
	case c == 'n':
		r.skip()
		return nil, 0, false
	}
	d.typeErr(r, field, "a string or number")
	return nil, 0, false
}
