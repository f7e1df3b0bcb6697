// supabase-js's database API (PostgREST) against a running sensay-hub, as the showcase's Task Memory page uses it
// and beyond. Prints one JSON object on stdout; tests/api/test_rest_v1_clients.py checks it.
//   node rest.mjs <url> <anon key> <email of alice> <email of bob>
import { createClient } from '@supabase/supabase-js'
import ws from 'ws'

const [url, key, aliceEmail, bobEmail] = process.argv.slice(2)
const password = 'correct horse battery'
const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws },
}
const err = (error) => (error ? { code: error.code ?? null, message: error.message, details: error.details ?? null,
                                  hint: error.hint ?? null } : null)
const answer = ({ data, error, count, status }) => ({ data: data ?? null, error: err(error), count: count ?? null,
                                                      status })

async function signedIn(email) {
  const supabase = createClient(url, key, options)
  const { error } = await supabase.auth.signUp({ email, password })
  if (error) throw error
  return supabase
}

const out = {}
const alice = await signedIn(aliceEmail)
const bob = await signedIn(bobEmail)
const anon = createClient(url, key, options)
const aliceId = (await alice.auth.getUser()).data.user.id

// The Task Memory page's own calls.
out.insert = answer(await alice.from('tasks').insert({ text: 'buy milk', completed: false }).select())
await alice.from('tasks').insert([{ text: 'walk the dog', completed: false }, { text: 'call mum', completed: true }])
out.list = answer(await alice.from('tasks').select('id, text, completed').order('created_at', { ascending: true }))
const milk = out.insert.data[0].id
out.update = answer(await alice.from('tasks').update({ completed: true }).eq('id', milk))
out.afterUpdate = answer(await alice.from('tasks').select('text, completed').eq('id', milk).single())
out.countColumn = answer(await alice.from('tasks').select('count').limit(1))

// Filters, ordering, counts, pages.
out.filtered = answer(await alice.from('tasks').select('text').eq('completed', true).order('text'))
out.or = answer(await alice.from('tasks').select('text').or('text.eq.call mum,text.ilike.*DOG*').order('text'))
out.in = answer(await alice.from('tasks').select('text').in('text', ['buy milk', 'nothing']))
out.not = answer(await alice.from('tasks').select('text').not('text', 'like', '*milk*').order('text', { ascending: false }))
out.range = answer(await alice.from('tasks').select('text').order('text').range(1, 2))
out.head = answer(await alice.from('tasks').select('*', { count: 'exact', head: true }))
out.counted = answer(await alice.from('tasks').select('text', { count: 'exact' }).order('text').limit(1))
out.maybeSingle = answer(await alice.from('tasks').select('text').eq('text', 'nothing').maybeSingle())
out.singleOfMany = answer(await alice.from('tasks').select('text').single())

// Upsert, delete with filters.
out.upsert = answer(await alice.from('tasks').upsert({ id: milk, text: 'buy oat milk', completed: false })
  .select('text, completed'))
out.ignored = answer(await alice.from('tasks').upsert({ id: milk, text: 'never' }, { ignoreDuplicates: true })
  .select('text'))
out.delete = answer(await alice.from('tasks').delete().eq('text', 'call mum').select('text'))

// Two users and the anon key against each other's rows.
await bob.from('tasks').insert({ text: "bob's" })
out.bobSees = answer(await bob.from('tasks').select('text'))
out.anonSees = answer(await anon.from('tasks').select('text'))
out.anonInsert = answer(await anon.from('tasks').insert({ text: 'anon', user_id: aliceId }))
out.forged = answer(await bob.from('tasks').insert({ text: 'for alice', user_id: aliceId }))
out.bobUpdatesAlice = answer(await bob.from('tasks').update({ text: 'hacked' }).eq('id', milk).select())
out.bobDeletesAlice = answer(await bob.from('tasks').delete().eq('id', milk).select())
out.aliceAfter = answer(await alice.from('tasks').select('text').order('text'))
out.interactions = answer(await alice.from('prototype_interactions').select('*'))
out.conversations = answer(await bob.from('conversations').select('*'))

// Bad requests answered like PostgREST, never a 500.
out.badColumn = answer(await alice.from('tasks').select('nope'))
out.badFilter = answer(await alice.from('tasks').select('text').filter('text', 'eqq', 'x'))
out.badValue = answer(await alice.from('tasks').select('text').eq('id', 'not-a-uuid'))
out.badTable = answer(await alice.from('nope').select('*'))
out.unknownColumn = answer(await alice.from('tasks').insert({ text: 'x', colour: 'red' }))
console.log(JSON.stringify(out))
