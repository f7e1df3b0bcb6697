// A task written through supabase-js's database API (/rest/v1) reaches postgres_changes subscribers (/realtime/v1)
// of its owner only, as on Supabase. Prints one JSON object on stdout; tests/api/test_rest_v1_clients.py checks it.
//   node rest_changes.mjs <url> <anon key> <alice email> <bob email> <password>
import { createClient } from '@supabase/supabase-js'
import ws from 'ws'

const [url, key, aliceEmail, bobEmail, password] = process.argv.slice(2)
const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws },
}
const WAIT_MS = 10000 // a bound on a hung hub, not a speed requirement

async function signedIn(email) {
  const supabase = createClient(url, key, options)
  const { data, error } = await supabase.auth.signInWithPassword({ email, password })
  if (error) throw error
  return { supabase, id: data.user.id }
}

const heard = { alice: [], bob: [], anon: [] }
const waiters = []
function listen(who) {
  return (payload) => {
    heard[who].push({ eventType: payload.eventType, new: payload.new, old: payload.old, at: Date.now() })
    for (const waiter of [...waiters]) waiter()
  }
}
function until(who, count) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${who}: ${heard[who].length} of ${count} changes`)), WAIT_MS)
    const check = () => {
      if (heard[who].length >= count) {
        clearTimeout(timer)
        waiters.splice(waiters.indexOf(check), 1)
        resolve()
      }
    }
    waiters.push(check)
    check()
  })
}
function subscribed(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve(channel)
      else if (status !== 'CLOSED') reject(new Error(`${status} ${err}`))
    })
  })
}

const alice = await signedIn(aliceEmail)
const bob = await signedIn(bobEmail)
const anon = createClient(url, key, options)
const tasks = { event: '*', schema: 'public', table: 'tasks' }
await subscribed(alice.supabase.channel('a').on('postgres_changes', { ...tasks, filter: `user_id=eq.${alice.id}` },
                                                listen('alice')))
await subscribed(bob.supabase.channel('b').on('postgres_changes', tasks, listen('bob')))
await subscribed(anon.channel('c').on('postgres_changes', tasks, listen('anon')))

const out = { writes: [] }
const write = async (name, query) => {
  const started = Date.now()
  const { data, error, status } = await query
  out.writes.push({ name, status, error: error?.code ?? null, started })
  return data
}
const [task] = await write('insert', alice.supabase.from('tasks').insert({ text: 'via rest' }).select('id'))
await until('alice', 1)
await write('update', alice.supabase.from('tasks').update({ completed: true }).eq('id', task.id))
await until('alice', 2)
await write('delete', alice.supabase.from('tasks').delete().eq('id', task.id))
await until('alice', 3)
// Bob's own task, written last, reaches him: anything of alice's would have come before it.
await write('bob', bob.supabase.from('tasks').insert({ text: "bob's" }))
await until('bob', 1)
out.taskId = task.id
out.heard = heard
out.delaysMs = heard.alice.map((event, i) => event.at - out.writes[i].started)
console.log(JSON.stringify(out))
process.exit(0)
