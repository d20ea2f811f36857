#!/usr/bin/env python3
"""Render the real Hugging Face chat templates (Jinja source as in the models' tokenizer_config.json,
copied in shared/reference/FORMATS.md section 6) with jinja2 the way transformers' apply_chat_template
does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, raise_exception), and write
tests/data/tokenizers/chat_cases.json for tests/tokenizer/test_chat.c.

    python3 tests/reference/hf_tokenizers_chat.py
"""
import json
import os

from jinja2.exceptions import TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = {
    "mistral-v0.1": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "llama2": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
    "qwen2": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
}
BOS = {"llama3": "<|begin_of_text|>"}
# Qwen3: the real template of tests/data/tokenizers/qwen3/tokenizer_config.json
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tokenizers", "qwen3",
                       "tokenizer_config.json"), encoding="utf-8") as _f:
    TEMPLATES["qwen3"] = json.load(_f)["chat_template"]

CANON = [
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"},
    {"role": "assistant", "content": "   I am an assistant   "},
    {"role": "user", "content": "Another question"},
]
CONVS = {
    "canonical": CANON,
    "no_system": CANON[1:],
    "ends_with_assistant": CANON[1:5],
    "padded": [{"role": "system", "content": "\n sys \t"}, {"role": "user", "content": "  q\u00e9 \u2003"},
               {"role": "assistant", "content": "\na\u00a0 "}],
    "not_alternating": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    "system_only_first": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}],
    "empty": [],
    "reasoning": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\nhmm\n\n</think>\n\nanswer"},
                  {"role": "user", "content": "q2"}, {"role": "assistant", "content": "x<think>\n\nwhy\n</think>\n\n\nfinal\n"}],
    "tools": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "call"},
              {"role": "tool", "content": "r1"}, {"role": "tool", "content": "r2"}, {"role": "assistant", "content": "done"}],
    "tool_last_query": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a1"},
                        {"role": "user", "content": "<tool_response>\nx\n</tool_response>"},
                        {"role": "assistant", "content": "a2"}],
}


def raise_exception(msg):
    raise TemplateError(msg)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = json.dumps
    cases = []
    for name, src in TEMPLATES.items():
        tpl = env.from_string(src)
        for cname, msgs in CONVS.items():
            for gen in (False, True):
                case = {"template": name, "conversation": cname, "messages": msgs, "add_generation_prompt": gen}
                try:
                    case["text"] = tpl.render(messages=msgs, add_generation_prompt=gen,
                                              bos_token=BOS.get(name, "<s>"), eos_token="</s>")
                except UndefinedError as e:  # messages[0] of [] in llama2: a Jinja failure, not a rule
                    case["error"] = "UndefinedError: " + str(e)
                except TemplateError as e:
                    case["error"] = str(e)
                except IndexError as e:  # messages[0] on an empty list in llama2
                    case["error"] = "IndexError: " + str(e)
                cases.append(case)
    # Stanford Alpaca train.py PROMPT_DICT + output + eos
    pi = ("Below is an instruction that describes a task, paired with an input that provides further context. "
          "Write a response that appropriately completes the request.\n\n"
          "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")
    pn = ("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
          "### Instruction:\n{instruction}\n\n### Response:")
    cases.append({"template": "alpaca", "conversation": "alpaca_input", "add_generation_prompt": False,
                  "messages": [{"role": "user", "content": "Add."}, {"role": "input", "content": "2 and 3"},
                               {"role": "assistant", "content": "5"}],
                  "text": pi.format(instruction="Add.", input="2 and 3") + "5" + "</s>"})
    cases.append({"template": "alpaca", "conversation": "alpaca_no_input", "add_generation_prompt": False,
                  "messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}],
                  "text": pn.format(instruction="Say hi.") + "Hi!" + "</s>"})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tokenizers", "chat_cases.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"source": "jinja2 rendering of the Hugging Face chat templates, tests/reference/hf_tokenizers_chat.py",
                   "templates": TEMPLATES, "cases": cases}, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
