//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The wire protocol: length-prefixed frames over one TCP connection, big
// endian, one request in flight per connection.
//
//	request  = header(24) key(keylen) payload(size, PUT only)
//	  0 magic  "OBJ1"
//	  4 op     1 HELLO, 2 PUT, 3 GET, 4 DEL, 5 STAT
//	  5 flags  0
//	  6 keylen bytes of key, at most maxKey
//	  8 size   PUT: payload bytes; HELLO: the client's data-channel port
//	 16 crc    PUT: CRC-32C (Castagnoli) of the payload
//	 20 id     request id, echoed in the response
//
//	response = header(24) message(msglen) payload(size, GET inline and STAT)
//	  0 magic  "OBJR"
//	  4 status 0 ok, 1 not found, 2 bad checksum, 3 no space, 4 bad request,
//	           5 too large, 6 server error
//	  5 where  GET: 0 the payload follows on this connection, 1 on the data channel
//	  6 msglen bytes of the error message that follows the header
//	  8 size   GET: payload bytes; HELLO: the session token
//	 16 crc    GET: CRC-32C of the payload
//	 20 id     the request's id
//
// HELLO opens a data channel: the client listens on a port and names it;
// the server dials back (devmem TX where the NIC can, the copy path
// otherwise), writes the 8-byte session token on the new connection and
// answers with the token. GETs of that session then send their payload on
// the data channel, straight from device memory. Without HELLO, or where
// the dial fails, GET payloads follow their response on the request
// connection as ordinary (copied) TCP data.

const (
	headerLen = 24
	maxKey    = 1024
)

var (
	reqMagic  = [4]byte{'O', 'B', 'J', '1'}
	respMagic = [4]byte{'O', 'B', 'J', 'R'}
)

type op uint8

const (
	opHello op = iota + 1
	opPut
	opGet
	opDel
	opStat
)

func (o op) String() string {
	switch o {
	case opHello:
		return "HELLO"
	case opPut:
		return "PUT"
	case opGet:
		return "GET"
	case opDel:
		return "DEL"
	case opStat:
		return "STAT"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

type status uint8

const (
	statusOK status = iota
	statusNotFound
	statusBadChecksum
	statusNoSpace
	statusBadRequest
	statusTooLarge
	statusServerError
)

func (s status) String() string {
	switch s {
	case statusOK:
		return "ok"
	case statusNotFound:
		return "not found"
	case statusBadChecksum:
		return "bad checksum"
	case statusNoSpace:
		return "no space"
	case statusBadRequest:
		return "bad request"
	case statusTooLarge:
		return "too large"
	case statusServerError:
		return "server error"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Where a GET's payload goes.
const (
	whereInline = 0
	whereData   = 1
)

type request struct {
	op     op
	keyLen uint16
	size   uint64
	crc    uint32
	id     uint32
}

type response struct {
	status status
	where  uint8
	msgLen uint16
	size   uint64
	crc    uint32
	id     uint32
}

var errBadFrame = errors.New("objstore: bad frame")

func (r *request) marshal(b *[headerLen]byte) {
	copy(b[0:4], reqMagic[:])
	b[4], b[5] = byte(r.op), 0
	binary.BigEndian.PutUint16(b[6:], r.keyLen)
	binary.BigEndian.PutUint64(b[8:], r.size)
	binary.BigEndian.PutUint32(b[16:], r.crc)
	binary.BigEndian.PutUint32(b[20:], r.id)
}

// parseRequest decodes a request header, rejecting what the server must
// not act on.
func parseRequest(b []byte) (request, error) {
	if len(b) < headerLen {
		return request{}, fmt.Errorf("%w: %d-byte header", errBadFrame, len(b))
	}
	if [4]byte(b[0:4]) != reqMagic {
		return request{}, fmt.Errorf("%w: magic %q", errBadFrame, b[0:4])
	}
	r := request{
		op:     op(b[4]),
		keyLen: binary.BigEndian.Uint16(b[6:]),
		size:   binary.BigEndian.Uint64(b[8:]),
		crc:    binary.BigEndian.Uint32(b[16:]),
		id:     binary.BigEndian.Uint32(b[20:]),
	}
	switch {
	case b[5] != 0:
		return r, fmt.Errorf("%w: flags %#x", errBadFrame, b[5])
	case r.op < opHello || r.op > opStat:
		return r, fmt.Errorf("%w: unknown op %d", errBadFrame, b[4])
	case r.keyLen > maxKey:
		return r, fmt.Errorf("%w: %d-byte key (at most %d)", errBadFrame, r.keyLen, maxKey)
	case r.op != opPut && r.op != opHello && r.size != 0:
		return r, fmt.Errorf("%w: %v with a %d-byte payload", errBadFrame, r.op, r.size)
	case r.op == opHello && r.size > 65535:
		return r, fmt.Errorf("%w: HELLO port %d", errBadFrame, r.size)
	case (r.op == opPut || r.op == opGet || r.op == opDel) && r.keyLen == 0:
		return r, fmt.Errorf("%w: %v without a key", errBadFrame, r.op)
	}
	return r, nil
}

func (r *response) marshal(b *[headerLen]byte) {
	copy(b[0:4], respMagic[:])
	b[4], b[5] = byte(r.status), r.where
	binary.BigEndian.PutUint16(b[6:], r.msgLen)
	binary.BigEndian.PutUint64(b[8:], r.size)
	binary.BigEndian.PutUint32(b[16:], r.crc)
	binary.BigEndian.PutUint32(b[20:], r.id)
}

func parseResponse(b []byte) (response, error) {
	if len(b) < headerLen {
		return response{}, fmt.Errorf("%w: %d-byte header", errBadFrame, len(b))
	}
	if [4]byte(b[0:4]) != respMagic {
		return response{}, fmt.Errorf("%w: magic %q", errBadFrame, b[0:4])
	}
	r := response{
		status: status(b[4]),
		where:  b[5],
		msgLen: binary.BigEndian.Uint16(b[6:]),
		size:   binary.BigEndian.Uint64(b[8:]),
		crc:    binary.BigEndian.Uint32(b[16:]),
		id:     binary.BigEndian.Uint32(b[20:]),
	}
	if r.status > statusServerError || r.where > whereData {
		return r, fmt.Errorf("%w: status %d where %d", errBadFrame, b[4], b[5])
	}
	return r, nil
}

// castagnoli is the CRC-32C table (hardware-accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// statusError is a non-ok response as an error.
type statusError struct {
	op     op
	status status
	msg    string
}

func (e *statusError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("objstore: %v: %v", e.op, e.status)
	}
	return fmt.Sprintf("objstore: %v: %v: %s", e.op, e.status, e.msg)
}
