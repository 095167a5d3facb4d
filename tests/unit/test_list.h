/* The suites of the unit-test runner, one per tests/unit/test_NAME.c file,
 * in the order `unit_runner` runs them. CMake reads this list too: each
 * SUITE(NAME) compiles test_NAME.c into the runner and becomes the ctest
 * entry unit_NAME (`unit_runner NAME`). One per line. No include guard:
 * runner.c includes it twice, with two meanings of SUITE. */
SUITE(backoff)
SUITE(buf)
SUITE(eio_lacks_sid)
SUITE(eio_packet)
SUITE(hashtab)
SUITE(http_client)
SUITE(json_text)
SUITE(local_bus)
SUITE(lua_json)
SUITE(lua_redis)
SUITE(lua_rt)
SUITE(mpjson)
SUITE(options)
SUITE(redis_client)
SUITE(redis_url)
SUITE(sio_adapter)
SUITE(sio_cluster)
SUITE(sio_packet)
SUITE(stream_writer)
SUITE(testlib)
SUITE(tls)
SUITE(trust)
SUITE(ws_frame)
