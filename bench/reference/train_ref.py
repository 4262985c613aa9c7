"""PyTorch reference for bench/train.ts: the same GPT, batch and optimizer step as synehr's trainer.

Token + learned position embeddings, pre-LayerNorm blocks of causal multi-head attention with the
packed-document mask, a tanh-GELU MLP, final LayerNorm, output head tied to the token embedding;
mean cross-entropy over targets != -1; global-norm clipping; AdamW. Written for Debian's
python3-torch (1.13, no scaled_dot_product_attention) with libopenblas0-pthread.

Usage: /usr/bin/python3 train_ref.py '{"n_layer":4,"n_embd":128,"n_head":4,"T":1024,"B":4,"V":1030,"steps":5,"warmup":2,"threads":2}'
Prints one JSON line: {"tokens_per_s": ..., "step_ms": [...], "warmup_ms": [...], "torch": "...",
"blas": {...}}, tokens/s from the median timed step, as bench/train.ts reports synehr's. "blas" says
which BLAS the process really ran on and with how many threads (threadpoolctl where installed, and
the BLAS libraries mapped into the process), so the bench can refuse an unfair comparison: without
libopenblas0-pthread, Debian's torch runs on the reference BLAS, an order of magnitude slower.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x, bias):
        B, T, C = x.shape
        H, D = self.H, C // self.H
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D)) + bias  # (B, H, T, T)
        y = F.softmax(att, dim=-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh'))


class GPT(nn.Module):
    def __init__(self, L, C, H, T, V):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList([Block(C, H) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)
        # GPT-2's initialisation, as synehr's src/model/params.ts: N(0, 0.02^2), residual
        # projections scaled by 1/sqrt(2 L), wpe 0.01, biases 0
        for name, p in self.named_parameters():
            if name.endswith('bias') or 'ln_' in name:
                continue
            std = 0.01 if name == 'wpe.weight' else 0.02 / math.sqrt(2 * L) if name.endswith(('c_proj.weight', 'mlp_proj.weight')) else 0.02
            nn.init.normal_(p, 0.0, std)
        for name, p in self.named_parameters():
            if name.endswith('bias') and 'ln_' not in name:
                nn.init.zeros_(p)

    def forward(self, idx, pos, doc, targets):
        T = idx.shape[1]
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        allowed = (doc[:, None, :, None] == doc[:, None, None, :]) & causal  # (B, 1, T, T)
        bias = torch.where(allowed, 0.0, -1e9)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x, bias)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied head: (B, T, V)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)


def blas_info():
    """The BLAS this process has loaded and its threads, after a product has run."""
    info = {'torch_threads': torch.get_num_threads(), 'libraries': [], 'threadpools': None}
    try:
        from threadpoolctl import threadpool_info
        info['threadpools'] = [{k: p.get(k) for k in ('user_api', 'internal_api', 'filepath', 'version', 'num_threads')} for p in threadpool_info()]
    except ImportError:
        pass
    try:
        with open('/proc/self/maps') as f:
            paths = {line.split()[-1] for line in f if '/' in line and ('blas' in line or 'lapack' in line)}
        info['libraries'] = sorted(os.path.realpath(p) for p in paths)
    except OSError:
        pass
    return info


def main():
    a = json.loads(sys.argv[1])
    torch.set_num_threads(a.get('threads', 2))
    torch.manual_seed(0)
    B, T, V = a['B'], a['T'], a['V']
    model = GPT(a['n_layer'], a['n_embd'], a['n_head'], T, V)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    idx = torch.randint(0, V, (B, T))
    pos = torch.arange(T).expand(B, T).contiguous()
    doc = torch.zeros(B, T, dtype=torch.long)
    targets = torch.roll(idx, -1, dims=1)
    targets[:, -1] = -1
    times = []
    warmup = []
    n_warm = a.get('warmup', 1)
    for i in range(n_warm + a['steps']):  # the first steps warm up
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(idx, pos, doc, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        (warmup if i < n_warm else times).append(time.perf_counter() - t0)
    s = sorted(times)
    median = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    print(json.dumps({'tokens_per_s': B * T / median, 'step_ms': [t * 1000 for t in times], 'warmup_ms': [t * 1000 for t in warmup],
                      'loss': loss.item(), 'torch': torch.__version__, 'blas': blas_info()}))


if __name__ == '__main__':
    main()
