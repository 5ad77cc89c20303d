import json,glob,statistics,sys,collections
d=sys.argv[1] if len(sys.argv)>1 else sorted(glob.glob('bench/out/scheduler-*'))[-1]
recs=[json.loads(l) for l in open(d+'/requests.jsonl') if l.strip()]
for sysname in ['flexi','round-robin']:
  r=[x for x in recs if x['scenario']=='rush' and x['system']==sysname and x['class']=='interactive']
  if not r: continue
  t0=min(x['sentAtMs'] for x in r)
  b={}
  for x in r:
    if 'ttftMs' in x: b.setdefault(int((x['sentAtMs']-t0)/15000),[]).append(x['ttftMs']/1000)
  print(sysname,'interactive TTFT by 15 s of the window: start n p50 p95')
  for k,v in sorted(b.items()):
    v.sort(); print('  ',k*15,len(v),round(statistics.median(v),2),round(v[int(0.95*(len(v)-1))],2))
  bt=[x for x in recs if x['scenario']=='rush' and x['system']==sysname and x['class']=='batch' and 'ttftMs' in x]
  # running batch streams at times
  for t in range(0,95000,15000):
    at=t0+t
    n=sum(1 for x in bt if x['sentAtMs']+x['ttftMs']<=at<=x['sentAtMs']+x['e2eMs'])
    print('   batch streaming at',t//1000,'s:',n)
g=[x for x in recs if x['scenario']=='grid' and x['system']=='flexi' and x.get('errorKind')=='refused']
print('grid flexi refusals', collections.Counter((x['model'],x['level'],x['errorMessage'][:60]) for x in g))
print('grid flexi refusal wait max s', max([x['e2eMs']/1000 for x in g] or [0]))
