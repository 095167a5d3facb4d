/* Checks of the load generator's pure parts: RFC 6455 framing and accept
 * key, Engine.IO / Socket.IO packet codec, histogram, and the llhttp
 * behaviour the handshake relies on. Prints "N passed, M failed". */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <llhttp.h>

#include "lg_eio.h"
#include "lg_hist.h"
#include "lg_run.h"
#include "lg_ws.h"

static int passed, failed;

#define CHECK(cond) do { if (cond) passed++; else { failed++; \
    fprintf(stderr, "%s:%d: %s: failed: %s\n", __FILE__, __LINE__, __func__, #cond); } } while (0)

static void ws_accept_matches_rfc6455_example(void)
{
    char accept[LG_WS_ACCEPT_LEN + 1];
    lg_ws_accept_compute("dGhlIHNhbXBsZSBub25jZQ==", accept);
    CHECK(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    char key[LG_WS_KEY_LEN + 1], a2[LG_WS_ACCEPT_LEN + 1];
    lg_ws_key_make(key, accept);
    lg_ws_accept_compute(key, a2);
    CHECK(strlen(key) == LG_WS_KEY_LEN && strcmp(accept, a2) == 0);
}

static void ws_frame_is_masked_and_unmasks_back(void)
{
    uint8_t out[LG_WS_HEADER_MAX + 300];
    char payload[300];
    memset(payload, 'a', sizeof payload);
    size_t n = lg_ws_frame_encode(out, LG_WS_TEXT, "42[\"x\"]", 7, 0x01020304);
    CHECK(n == 2 + 4 + 7);
    CHECK(out[0] == 0x81 && out[1] == (0x80 | 7));
    CHECK(out[2] == 1 && out[3] == 2 && out[4] == 3 && out[5] == 4);
    CHECK((out[6] ^ 1) == '4' && (out[7] ^ 2) == '2' && (out[9] ^ 4) == '"');
    n = lg_ws_frame_encode(out, LG_WS_TEXT, payload, sizeof payload, 0);
    CHECK(n == 4 + 4 + 300 && (out[1] & 0x7f) == 126 && out[2] == 1 && out[3] == 44);
}

static void ws_parse_server_frames(void)
{
    lg_ws_frame_t f;
    const uint8_t text[] = { 0x81, 0x01, '2' };
    CHECK(lg_ws_frame_parse(text, sizeof text, 1000, &f) == 1);
    CHECK(f.fin && f.opcode == LG_WS_TEXT && f.header_len == 2 && f.payload_len == 1);
    CHECK(lg_ws_frame_parse(text, 2, 1000, &f) == 0);
    const uint8_t mid[] = { 0x81, 126, 0x01 };
    CHECK(lg_ws_frame_parse(mid, sizeof mid, 1000, &f) == 0);
    const uint8_t big[] = { 0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0 };
    CHECK(lg_ws_frame_parse(big, sizeof big, 1000, &f) == -EMSGSIZE);
    const uint8_t masked[] = { 0x81, 0x81, 0, 0, 0, 0, '2' };
    CHECK(lg_ws_frame_parse(masked, sizeof masked, 1000, &f) == -EPROTO);
    const uint8_t rsv[] = { 0xC1, 0x01, '2' };
    CHECK(lg_ws_frame_parse(rsv, sizeof rsv, 1000, &f) == -EPROTO);
    const uint8_t frag_ping[] = { 0x09, 0x00 };
    CHECK(lg_ws_frame_parse(frag_ping, sizeof frag_ping, 1000, &f) == -EPROTO);
    const uint8_t cont[] = { 0x01, 0x01, '4', 0x80, 0x01, '0' };
    CHECK(lg_ws_frame_parse(cont, sizeof cont, 1000, &f) == 1 && !f.fin && f.opcode == LG_WS_TEXT);
    CHECK(lg_ws_frame_parse(cont + 3, 3, 1000, &f) == 1 && f.fin && f.opcode == LG_WS_CONTINUATION);
}

static void eio_packets_parse(void)
{
    lg_pkt_t p;
    CHECK(lg_pkt_parse("2", 1, &p) == 0 && p.kind == LG_PKT_PING && p.data_len == 0);
    CHECK(lg_pkt_parse("0{\"sid\":\"a\"}", 12, &p) == 0 && p.kind == LG_PKT_OPEN && p.data[0] == '{');
    const char *c = "40{\"sid\":\"xyz\"}";
    CHECK(lg_pkt_parse(c, strlen(c), &p) == 0 && p.kind == LG_PKT_SIO_CONNECT && lg_pkt_nsp_is(&p, "/"));
    c = "40/admin,{\"sid\":\"xyz\"}";
    CHECK(lg_pkt_parse(c, strlen(c), &p) == 0 && p.kind == LG_PKT_SIO_CONNECT && lg_pkt_nsp_is(&p, "/admin") &&
          p.data[0] == '{');
    c = "43/admin,12[\"bar\"]";
    CHECK(lg_pkt_parse(c, strlen(c), &p) == 0 && p.kind == LG_PKT_SIO_ACK && p.ack_id == 12 &&
          lg_pkt_nsp_is(&p, "/admin") && p.data_len == 7);
    c = "4312[\"bar\"]";
    CHECK(lg_pkt_parse(c, strlen(c), &p) == 0 && p.kind == LG_PKT_SIO_ACK && p.ack_id == 12 && p.data[0] == '[');
    c = "42[\"shout\",\"hi\"]";
    CHECK(lg_pkt_parse(c, strlen(c), &p) == 0 && p.kind == LG_PKT_SIO_EVENT && p.ack_id == -1 &&
          lg_pkt_event_is(&p, "shout") && !lg_pkt_event_is(&p, "shou"));
    c = "451-[\"baz\",{\"_placeholder\":true,\"num\":0}]";
    CHECK(lg_pkt_parse(c, strlen(c), &p) == 0 && p.kind == LG_PKT_SIO_BINARY_EVENT && p.data[0] == '[');
    c = "44{\"message\":\"Not authorized\"}";
    CHECK(lg_pkt_parse(c, strlen(c), &p) == 0 && p.kind == LG_PKT_SIO_CONNECT_ERROR);
    CHECK(lg_pkt_parse("9", 1, &p) == -EPROTO);
    CHECK(lg_pkt_parse("49", 2, &p) == -EPROTO);
    CHECK(lg_pkt_parse("", 0, &p) == -EPROTO);
}

static void eio_open_and_encoders(void)
{
    const char *o = "{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
                    "\"pingTimeout\":20000,\"maxPayload\":1000000}";
    char sid[64];
    uint32_t pi = 0, pt = 0;
    CHECK(lg_open_parse(o, strlen(o), sid, sizeof sid, &pi, &pt) == 0);
    CHECK(strcmp(sid, "lv_VI97HAXpY6yYWAAAC") == 0 && pi == 25000 && pt == 20000);
    CHECK(lg_open_parse("{\"x\":1}", 7, sid, sizeof sid, &pi, &pt) == -EPROTO);
    char b[128];
    CHECK(lg_sio_connect_encode(b, sizeof b, "/") == 2 && strcmp(b, "40") == 0);
    CHECK(lg_sio_connect_encode(b, sizeof b, "/admin") == 9 && strcmp(b, "40/admin,") == 0);
    CHECK(lg_sio_event_encode(b, sizeof b, "/", 7, "echo", "\"x\"", 3) > 0 && strcmp(b, "427[\"echo\",\"x\"]") == 0);
    CHECK(lg_sio_event_encode(b, sizeof b, "/a", -1, "shout", "", 0) > 0 && strcmp(b, "42/a,[\"shout\"]") == 0);
    CHECK(lg_sio_event_encode(b, 8, "/", 1, "echo", "\"x\"", 3) == -ENOSPC);
}

static void hist_quantiles_within_precision(void)
{
    static lg_hist_t h, h2;
    for (uint64_t v = 1; v <= 100000; v++)
        lg_hist_record(&h, v * 1000);
    uint64_t p50 = lg_hist_quantile(&h, 0.5), p99 = lg_hist_quantile(&h, 0.99);
    CHECK(p50 > 49000000 && p50 < 51000000);
    CHECK(p99 > 98000000 && p99 < 100000001);
    CHECK(lg_hist_quantile(&h, 1.0) == 100000000 && h.max == 100000000);
    lg_hist_record(&h2, 5);
    lg_hist_merge(&h2, &h);
    CHECK(h2.count == 100001 && lg_hist_quantile(&h2, 0.0) == 5);
}

static void src_addrs_stay_in_loopback(void)
{
    CHECK(lg_src_addr(0) == 0x7F000101);
    CHECK(lg_src_addr(253) == 0x7F0001FE);
    CHECK(lg_src_addr(254) == 0x7F000201);
    CHECK((lg_src_addr(70000) >> 24) == 127);
}

static int hs_status;
static int on_hc(llhttp_t *p) { hs_status = p->status_code; return 0; }

static void llhttp_pauses_after_a_101(void)
{
    llhttp_settings_t s;
    llhttp_t p;
    llhttp_settings_init(&s);
    s.on_headers_complete = on_hc;
    llhttp_init(&p, HTTP_RESPONSE, &s);
    const char *r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: x\r\n\r\n\x81\x01" "2";
    CHECK(llhttp_execute(&p, r, strlen(r)) == HPE_PAUSED_UPGRADE);
    CHECK(hs_status == 101 && strcmp(llhttp_get_error_pos(&p), "\x81\x01" "2") == 0);
    llhttp_init(&p, HTTP_RESPONSE, &s);
    r = "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno";
    CHECK(llhttp_execute(&p, r, strlen(r)) == HPE_OK && hs_status == 400);
}

int main(void)
{
    ws_accept_matches_rfc6455_example();
    ws_frame_is_masked_and_unmasks_back();
    ws_parse_server_frames();
    eio_packets_parse();
    eio_open_and_encoders();
    hist_quantiles_within_precision();
    src_addrs_stay_in_loopback();
    llhttp_pauses_after_a_101();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
