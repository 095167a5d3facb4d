/* What the tests of the two packet codecs (test_sio_packet.c,
 * test_sio_packet_msgpack.c) share: a packet header to encode, from C
 * strings. Not a suite: no test_ prefix. */
#ifndef SL_TEST_SIO_PACKET_FIXTURE_H
#define SL_TEST_SIO_PACKET_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "sio/sio_packet.h"

static inline sio_packet_t mk(sio_packet_type_t type, const char *nsp, int has_ack, uint64_t ack,
                              const char *payload)
{
    sio_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.nsp = nsp;
    p.nsp_len = nsp ? strlen(nsp) : 0;
    p.has_ack = has_ack;
    p.ack_id = ack;
    p.payload = payload;
    p.payload_len = payload ? strlen(payload) : 0;
    return p;
}

#endif
