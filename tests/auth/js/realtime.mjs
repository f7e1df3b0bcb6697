// supabase-js Realtime against a running sensay-hub, driven over stdin/stdout by tests/realtime/test_supabase_js.py.
//   node realtime.mjs <url> <anon key> <alice email> <bob email> <password>
// Signs both users in, then subscribes: alice (filtered to her rows), bob and an anon client to postgres_changes
// on tasks, alice to prototype_interactions, and alice and bob to one channel with broadcast (self, ack) and
// presence. Prints one JSON object per line: {"ready": ...} once every channel is SUBSCRIBED, then every event.
// Reads commands on stdin: "insert <text>" (alice inserts a task with supabase-js), "broadcast" (alice sends one), "untrack" (alice untracks), "refresh" (alice refreshes
// her session: supabase-js hands the new token to Realtime), "exit".
import { createClient } from '@supabase/supabase-js'
import ws from 'ws'
import readline from 'node:readline'

const [url, key, aliceEmail, bobEmail, password] = process.argv.slice(2)
const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws }, // Node 20 has no global WebSocket; a browser needs nothing here
}
const out = (line) => process.stdout.write(JSON.stringify(line) + '\n')

async function signedIn(email) {
  const supabase = createClient(url, key, options)
  const { data, error } = await supabase.auth.signInWithPassword({ email, password })
  if (error) throw error
  return { supabase, id: data.user.id }
}

function subscribed(channel, name) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      out({ who: name, status, error: err ? String(err.message ?? err) : null })
      if (status === 'SUBSCRIBED') resolve(channel)
      else if (status !== 'CLOSED') reject(new Error(`${name}: ${status} ${err}`))
    })
  })
}

const change = (who) => (payload) =>
  out({ who, type: 'postgres_changes', table: payload.table, eventType: payload.eventType, new: payload.new,
        old: payload.old, errors: payload.errors })

const alice = await signedIn(aliceEmail)
const bob = await signedIn(bobEmail)
const anon = createClient(url, key, options)

const tasks = { event: '*', schema: 'public', table: 'tasks' }
await subscribed(
  alice.supabase.channel('alice-tasks')
    .on('postgres_changes', { ...tasks, filter: `user_id=eq.${alice.id}` }, change('alice'))
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'prototype_interactions' }, change('alice')),
  'alice',
)
await subscribed(bob.supabase.channel('bob-tasks').on('postgres_changes', tasks, change('bob')), 'bob')
await subscribed(anon.channel('anon-tasks').on('postgres_changes', tasks, change('anon')), 'anon')

const room = (client, who) =>
  client.channel('room', { config: { broadcast: { self: true, ack: true }, presence: { key: who } } })
    .on('broadcast', { event: 'hello' }, ({ payload }) => out({ who, type: 'broadcast', payload }))
const aliceRoom = room(alice.supabase, 'alice')
const bobRoom = room(bob.supabase, 'bob')
aliceRoom.on('presence', { event: 'sync' }, () =>
  out({ who: 'alice', type: 'presence', keys: Object.keys(aliceRoom.presenceState()).sort() }))
bobRoom.on('presence', { event: 'sync' }, () =>
  out({ who: 'bob', type: 'presence', keys: Object.keys(bobRoom.presenceState()).sort() }))
await subscribed(aliceRoom, 'alice-room')
await subscribed(bobRoom, 'bob-room')
out({ who: 'alice', type: 'tracked', result: await aliceRoom.track({ online_at: 'now' }) })
out({ who: 'bob', type: 'tracked', result: await bobRoom.track({ online_at: 'later' }) })
out({ ready: true, alice: alice.id, bob: bob.id })

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = line.trim()
  if (command === 'broadcast') {
    const result = await aliceRoom.send({ type: 'broadcast', event: 'hello', payload: { from: 'alice' } })
    out({ who: 'alice', type: 'sent', result })
  } else if (command === 'untrack') {
    out({ who: 'alice', type: 'untracked', result: await aliceRoom.untrack() })
  } else if (command === 'refresh') {
    const { data, error } = await alice.supabase.auth.refreshSession()
    if (error) throw error
    await alice.supabase.realtime.setAuth(data.session.access_token)
    out({ who: 'alice', type: 'refreshed' })
  } else if (command.startsWith('insert ')) { // through supabase-js's database API (/rest/v1)
    const { error } = await alice.supabase.from('tasks').insert({ text: command.slice('insert '.length) })
    out({ who: 'alice', type: 'inserted', error: error ? error.message : null })
  } else if (command === 'exit') {
    break
  }
}
await Promise.all([alice.supabase, bob.supabase, anon].map((client) => client.removeAllChannels()))
out({ done: true })
process.exit(0)
