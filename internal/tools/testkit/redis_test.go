package testkit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartRedisKillRestart(t *testing.T) {
	r := StartRedis(t, WithRedisPersistence())
	c := r.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptLoad(ctx, "return 1").Err(); err != nil {
		t.Fatal(err)
	}
	r.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	r.Restart()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after restart with persistence: GET k = %q, %v; want v", got, err)
	}
	// A restarted server has an empty script cache: the sink must cope.
	exists, err := c.ScriptExists(ctx, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db").Result()
	if err != nil || exists[0] {
		t.Fatalf("script cache survived restart: %v %v", exists, err)
	}
}

func TestStartRedisACLUser(t *testing.T) {
	r := StartRedis(t, WithRedisUser("sink", "s3cret-pw"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Client().Ping(ctx).Err(); err != nil {
		t.Fatalf("ACL user cannot connect: %v", err)
	}
	wrong := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "sink", Password: "wrong", MaxRetries: -1})
	defer wrong.Close()
	if err := wrong.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: err = %v, want WRONGPASS", err)
	}
	anonymous := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer anonymous.Close()
	if err := anonymous.Ping(ctx).Err(); err == nil {
		t.Fatal("the default user can still connect")
	}
}
