import json, re, sys, datetime, statistics
samples=[]
for line in open(sys.argv[1]):
    ts, js = line.split(' ',1)
    try: d=json.loads(js)
    except: continue
    samples.append((float(ts), len(d.get('members',[])), d.get('rotation_us',0)))
runs=[]
for line in open(sys.argv[2]):
    m=re.match(r'\[(\d\d):(\d\d):(\d\d)\] totemd/udp tput n=(\d+) senders=(\d+) size=(\d+)', line)
    if m:
        h,mi,s,n,k,size=map(int,m.groups())
        t=datetime.datetime(2026,12,2,h,mi,s,tzinfo=datetime.timezone.utc).timestamp()
        runs.append((t,n,k,size))
for t,n,k,size in runs:
    rs=[r for (ts,mem,r) in samples if t+1.5<=ts<=t+5.5 and mem==n and r>0]
    med = statistics.median(rs) if rs else None
    print(f"n={n} senders={k} size={size}: rotation median {med} us over {len(rs)} samples")
# idle: samples with members==n outside runs? print min per n
for n in sorted(set(r[1] for r in runs)):
    rs=[r for (ts,mem,r) in samples if mem==n and r>0]
    if rs: print(f"n={n}: min {min(rs)} us, max {max(rs)} us")
